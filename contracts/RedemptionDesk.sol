// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IRedemptionDesk} from "./interfaces/IRedemptionDesk.sol";
import {IStoneToken} from "./interfaces/IStoneToken.sol";
import {SystemPausable, SystemRoles} from "./access/SystemRoles.sol";

/// @title RedemptionDesk
/// @notice See {IRedemptionDesk}.
/// @dev Invariants: the desk's stone balance equals the sum of escrowed orders' prices; an order leaves the
/// escrowed state exactly once (fulfilled: burned; cancelled: refunded and restocked).
contract RedemptionDesk is SystemPausable, EIP712, Nonces, IRedemptionDesk {
    bytes32 public constant ORDER_TYPEHASH =
        keccak256("Order(address buyer,uint256 itemId,uint256 maxPrice,uint256 nonce,uint256 deadline)");

    IStoneToken public immutable token;
    /// @notice Seconds after which a buyer may cancel an order that was not fulfilled.
    uint256 public immutable cancelTimeout;

    uint256 public nextOrderId = 1;
    mapping(uint256 itemId => Item) private _items;
    mapping(uint256 orderId => Order) private _orders;

    constructor(address admin, uint48 adminDelay, IStoneToken token_, uint256 cancelTimeout_)
        SystemRoles(admin, adminDelay)
        EIP712("Yuanshi RedemptionDesk", "1")
    {
        token = token_;
        cancelTimeout = cancelTimeout_;
    }

    /// @inheritdoc IRedemptionDesk
    function setItem(uint256 itemId, uint256 price, uint256 stock, bool active, bytes32 metadataHash)
        external
        onlyRole(CATALOGUE_ROLE)
    {
        if (price == 0 || price > type(uint128).max) revert InvalidPrice(price);
        if (stock > type(uint64).max) revert InvalidStock(stock);
        _items[itemId] = Item(uint128(price), uint64(stock), active, metadataHash);
        emit ItemSet(itemId, price, stock, active, metadataHash);
    }

    /// @inheritdoc IRedemptionDesk
    function order(uint256 itemId, uint256 maxPrice) external whenNotPaused returns (uint256) {
        return _order(msg.sender, itemId, maxPrice);
    }

    /// @inheritdoc IRedemptionDesk
    function orderBySig(address buyer, uint256 itemId, uint256 maxPrice, uint256 deadline, bytes calldata signature)
        external
        whenNotPaused
        returns (uint256)
    {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(ORDER_TYPEHASH, buyer, itemId, maxPrice, _useNonce(buyer), deadline))
        );
        if (!SignatureChecker.isValidSignatureNow(buyer, digest, signature)) revert InvalidSignature(buyer);
        return _order(buyer, itemId, maxPrice);
    }

    /// @inheritdoc IRedemptionDesk
    function fulfil(uint256 orderId) external onlyRole(FULFILLER_ROLE) {
        Order storage placed = _escrowed(orderId);
        placed.status = OrderStatus.Fulfilled;
        token.burn(placed.price);
        emit OrderFulfilled(orderId, msg.sender);
    }

    /// @inheritdoc IRedemptionDesk
    function cancel(uint256 orderId) external {
        Order storage placed = _escrowed(orderId);
        if (!hasRole(FULFILLER_ROLE, msg.sender)) {
            if (msg.sender != placed.buyer) revert NotOrderParty(orderId, msg.sender);
            uint256 allowedAt = placed.createdAt + cancelTimeout;
            if (block.timestamp < allowedAt) revert CancelTooEarly(orderId, allowedAt);
        }
        placed.status = OrderStatus.Cancelled;
        Item storage listed = _items[placed.itemId];
        // A stock at its maximum stands for "unlimited": a refund must never fail on the restock.
        if (listed.stock < type(uint64).max) ++listed.stock;
        token.transfer(placed.buyer, placed.price);
        emit OrderCancelled(orderId, msg.sender, placed.price);
    }

    /// @inheritdoc IRedemptionDesk
    function item(uint256 itemId) external view returns (Item memory) {
        return _items[itemId];
    }

    /// @inheritdoc IRedemptionDesk
    function orderOf(uint256 orderId) external view returns (Order memory) {
        return _orders[orderId];
    }

    /// @notice The EIP-712 domain separator signers must use.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _order(address buyer, uint256 itemId, uint256 maxPrice) private returns (uint256 orderId) {
        Item storage listed = _items[itemId];
        if (!listed.active) revert ItemUnavailable(itemId);
        if (listed.stock == 0) revert OutOfStock(itemId);
        uint256 price = listed.price;
        if (price > maxPrice) revert PriceAboveMax(itemId, price, maxPrice);
        --listed.stock;
        orderId = nextOrderId++;
        _orders[orderId] = Order(buyer, uint64(block.timestamp), OrderStatus.Escrowed, itemId, price);
        token.transferFrom(buyer, address(this), price);
        emit OrderPlaced(orderId, buyer, itemId, price);
    }

    function _escrowed(uint256 orderId) private view returns (Order storage placed) {
        placed = _orders[orderId];
        if (placed.status != OrderStatus.Escrowed) revert OrderNotEscrowed(orderId, placed.status);
    }
}
