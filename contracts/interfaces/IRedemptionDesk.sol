// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IRedemptionDesk
/// @notice Upgrades for stones: a catalogue (battery packs, lidar, smart-driving features) with stock; an order
/// escrows the price, fulfilment burns it, cancellation refunds it. Orders can be placed by the holder or
/// relayed with the holder's EIP-712 signature, so custodial wallets need no gas.
interface IRedemptionDesk {
    enum OrderStatus {
        None,
        Escrowed,
        Fulfilled,
        Cancelled
    }

    struct Item {
        uint128 price;
        uint64 stock;
        bool active;
        bytes32 metadataHash;
    }

    struct Order {
        address buyer;
        uint64 createdAt;
        OrderStatus status;
        uint256 itemId;
        uint256 price;
    }

    /// @notice A price must be positive.
    error InvalidPrice(uint256 price);
    /// @notice Stock must fit in 64 bits.
    error InvalidStock(uint256 stock);
    /// @notice `itemId` is not listed or not active.
    error ItemUnavailable(uint256 itemId);
    /// @notice `itemId` has no stock left.
    error OutOfStock(uint256 itemId);
    /// @notice The current `price` of `itemId` is above the buyer's `maxPrice`.
    error PriceAboveMax(uint256 itemId, uint256 price, uint256 maxPrice);
    /// @notice `orderId` is `status`, not escrowed.
    error OrderNotEscrowed(uint256 orderId, OrderStatus status);
    /// @notice The buyer may cancel `orderId` only from `allowedAt`.
    error CancelTooEarly(uint256 orderId, uint256 allowedAt);
    /// @notice `caller` is neither a fulfiller nor the buyer of `orderId`.
    error NotOrderParty(uint256 orderId, address caller);
    /// @notice A signed request expired at `deadline`.
    error SignatureExpired(uint256 deadline);
    /// @notice The signature is not `signer`'s.
    error InvalidSignature(address signer);

    /// @notice `itemId` was listed or changed.
    event ItemSet(uint256 indexed itemId, uint256 price, uint256 stock, bool active, bytes32 metadataHash);
    /// @notice `buyer` ordered `itemId`, escrowing `price` stones.
    event OrderPlaced(uint256 indexed orderId, address indexed buyer, uint256 indexed itemId, uint256 price);
    /// @notice `orderId` was delivered and its escrowed stones burned.
    event OrderFulfilled(uint256 indexed orderId, address indexed fulfiller);
    /// @notice `orderId` was cancelled by `by` and `refund` stones returned to the buyer.
    event OrderCancelled(uint256 indexed orderId, address indexed by, uint256 refund);

    /// @notice Lists or changes `itemId`. Catalogue role.
    function setItem(uint256 itemId, uint256 price, uint256 stock, bool active, bytes32 metadataHash) external;

    /// @notice Orders one `itemId` for the caller, paying at most `maxPrice` stones.
    function order(uint256 itemId, uint256 maxPrice) external returns (uint256 orderId);

    /// @notice Orders one `itemId` for `buyer`, who signed
    /// `Order(address buyer,uint256 itemId,uint256 maxPrice,uint256 nonce,uint256 deadline)`.
    function orderBySig(address buyer, uint256 itemId, uint256 maxPrice, uint256 deadline, bytes calldata signature)
        external
        returns (uint256 orderId);

    /// @notice Delivers `orderId`: burns its escrowed stones. Fulfiller role; works while paused.
    function fulfil(uint256 orderId) external;

    /// @notice Cancels `orderId` and refunds the buyer; a fulfiller any time, the buyer after the timeout.
    function cancel(uint256 orderId) external;

    function item(uint256 itemId) external view returns (Item memory);

    function orderOf(uint256 orderId) external view returns (Order memory);
}
