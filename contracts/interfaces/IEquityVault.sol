// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title IEquityVault
/// @notice Equity value for stones, paid in a settlement token.
/// Rounds: the treasurer funds a round with a record date; after that date the oracle posts the root of every
/// holder's stone balance at the record date (system escrows excluded), computed by the ledger from the token's
/// Transfer events; after the challenge window, during which the guardian can veto the root, each holder
/// claims `funding * balance / totalEligible` (floored) once, until the deadline; the treasurer sweeps the rest.
/// Buy-backs: the treasurer funds a window that burns stones at a published price until its stone budget is spent.
interface IEquityVault {
    struct Round {
        uint64 recordDate;
        uint64 claimDeadline;
        uint64 rootPostedAt;
        bool swept;
        bytes32 balanceRoot;
        uint256 funding;
        uint256 totalEligible;
        uint256 paid;
    }

    struct Buyback {
        uint64 start;
        uint64 end;
        bool closed;
        uint256 pricePerStone;
        uint256 stoneBudget;
        uint256 stonesBought;
        uint256 funding;
        uint256 paid;
    }

    /// @notice An amount that must be positive was zero.
    error ZeroAmount();
    /// @notice The time window `[start, end)` is empty or already over.
    error InvalidWindow(uint256 start, uint256 end);
    /// @notice `roundId` or `buybackId` does not exist.
    error UnknownId(uint256 id);
    /// @notice The balance root may be posted only after the record date `recordDate`.
    error RecordDateNotPassed(uint256 roundId, uint256 recordDate);
    /// @notice `roundId` has a balance root already.
    error RootAlreadyPosted(uint256 roundId);
    /// @notice `roundId` has no balance root inside its challenge window.
    error NotChallengeable(uint256 roundId);
    /// @notice `roundId` is not open for claims now (claimable from `opensAt` until `deadline`).
    error RoundNotClaimable(uint256 roundId, uint256 opensAt, uint256 deadline);
    /// @notice `account` claimed `roundId` already.
    error AlreadyClaimed(uint256 roundId, address account);
    /// @notice The proof does not place `(account, balance)` in the round's balance root.
    error InvalidProof(address account, uint256 balance);
    /// @notice Payouts of `roundId` would exceed its funding: a wrong root cannot reach other rounds' money.
    error RoundOverpaid(uint256 roundId, uint256 paid, uint256 funding);
    /// @notice `id` can be swept or closed only after `at`, and only once.
    error NotClosable(uint256 id, uint256 at);
    /// @notice Buy-back `buybackId` is not open now.
    error BuybackNotOpen(uint256 buybackId);
    /// @notice Selling `requested` stones exceeds the `remaining` budget of `buybackId`.
    error BuybackBudgetExceeded(uint256 buybackId, uint256 requested, uint256 remaining);
    /// @notice The payout `payout` is below the seller's minimum `minPayout` (or zero).
    error PayoutTooLow(uint256 payout, uint256 minPayout);
    /// @notice A signed request expired at `deadline`.
    error SignatureExpired(uint256 deadline);
    /// @notice The signature is not `signer`'s.
    error InvalidSignature(address signer);

    event RoundOpened(uint256 indexed roundId, uint256 recordDate, uint256 funding, uint256 claimDeadline);
    event BalanceRootPosted(uint256 indexed roundId, bytes32 balanceRoot, uint256 totalEligible, uint256 claimableAt);
    event BalanceRootVetoed(uint256 indexed roundId, bytes32 balanceRoot, address indexed guardian);
    event RoundClaimed(uint256 indexed roundId, address indexed account, uint256 balance, uint256 payout);
    event RoundSwept(uint256 indexed roundId, address indexed to, uint256 amount);
    event BuybackOpened(uint256 indexed buybackId, uint256 pricePerStone, uint256 stoneBudget, uint256 start, uint256 end);
    event BoughtBack(uint256 indexed buybackId, address indexed seller, uint256 stones, uint256 payout);
    event BuybackClosed(uint256 indexed buybackId, address indexed to, uint256 refund);

    /// @notice Opens a round paying `funding` settlement tokens pro rata to balances at `recordDate`. Treasurer.
    function openRound(uint256 recordDate, uint256 funding, uint256 claimDeadline) external returns (uint256 roundId);

    /// @notice Posts the record-date balance root of `roundId` and the eligible total it sums to. Oracle.
    function postBalanceRoot(uint256 roundId, bytes32 balanceRoot, uint256 totalEligible) external;

    /// @notice Rejects the balance root of `roundId` during its challenge window. Guardian.
    function vetoBalanceRoot(uint256 roundId) external;

    /// @notice Pays `account` its share of `roundId` for `balance` at the record date; callable by anyone.
    function claimRound(uint256 roundId, address account, uint256 balance, bytes32[] calldata proof)
        external
        returns (uint256 payout);

    /// @notice Returns what is left of `roundId` to `to` after its deadline. Treasurer.
    function sweep(uint256 roundId, address to) external;

    /// @notice Opens a buy-back burning up to `stoneBudget` stones at `pricePerStone` settlement units per
    /// whole stone (10^18 base units) during `[start, end)`. Treasurer.
    function openBuyback(uint256 pricePerStone, uint256 stoneBudget, uint256 start, uint256 end)
        external
        returns (uint256 buybackId);

    /// @notice Sells `stones` of the caller's stones into `buybackId`; they are burned.
    function sellBack(uint256 buybackId, uint256 stones, uint256 minPayout) external returns (uint256 payout);

    /// @notice Relayed {sellBack} for `seller`, who signed
    /// `SellBack(address seller,uint256 buybackId,uint256 stones,uint256 minPayout,uint256 nonce,uint256 deadline)`.
    function sellBackBySig(
        address seller,
        uint256 buybackId,
        uint256 stones,
        uint256 minPayout,
        uint256 deadline,
        bytes calldata signature
    ) external returns (uint256 payout);

    /// @notice Returns a finished buy-back's unspent funding to `to`. Treasurer.
    function closeBuyback(uint256 buybackId, address to) external;

    function round(uint256 roundId) external view returns (Round memory);

    function buyback(uint256 buybackId) external view returns (Buyback memory);

    /// @notice What `balance` at the record date pays in `roundId`.
    function payoutFor(uint256 roundId, uint256 balance) external view returns (uint256);
}
