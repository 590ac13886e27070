// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {IEquityVault} from "./interfaces/IEquityVault.sol";
import {IStoneToken} from "./interfaces/IStoneToken.sol";
import {RewardLeaf} from "./libraries/RewardLeaf.sol";
import {SystemPausable, SystemRoles} from "./access/SystemRoles.sol";

/// @title EquityVault
/// @notice See {IEquityVault}.
/// @dev Invariants: a round never pays more than its funding, a buy-back never pays more than its funding nor
/// burns more than its budget; each account claims a round at most once.
contract EquityVault is SystemPausable, EIP712, Nonces, IEquityVault {
    using SafeERC20 for IERC20;

    uint256 public constant UNIT = 1e18;
    bytes32 public constant SELLBACK_TYPEHASH = keccak256(
        "SellBack(address seller,uint256 buybackId,uint256 stones,uint256 minPayout,uint256 nonce,uint256 deadline)"
    );

    IStoneToken public immutable token;
    IERC20 public immutable settlementToken;
    /// @notice Seconds a balance root waits, open to a guardian veto, before claims open.
    uint256 public immutable challengeWindow;

    uint256 public roundCount;
    uint256 public buybackCount;
    mapping(uint256 roundId => Round) private _rounds;
    mapping(uint256 buybackId => Buyback) private _buybacks;
    mapping(uint256 roundId => mapping(address account => bool)) public hasClaimed;

    constructor(
        address admin,
        uint48 adminDelay,
        IStoneToken token_,
        IERC20 settlementToken_,
        uint256 challengeWindow_
    ) SystemRoles(admin, adminDelay) EIP712("Yuanshi EquityVault", "1") {
        token = token_;
        settlementToken = settlementToken_;
        challengeWindow = challengeWindow_;
    }

    // ----- equity-value rounds -----

    /// @inheritdoc IEquityVault
    function openRound(uint256 recordDate, uint256 funding, uint256 claimDeadline)
        external
        onlyRole(TREASURER_ROLE)
        returns (uint256 roundId)
    {
        if (funding == 0) revert ZeroAmount();
        if (
            claimDeadline <= recordDate || claimDeadline <= block.timestamp + challengeWindow
                || claimDeadline > type(uint64).max
        ) revert InvalidWindow(recordDate, claimDeadline);
        roundId = ++roundCount;
        Round storage r = _rounds[roundId];
        r.recordDate = uint64(recordDate);
        r.claimDeadline = uint64(claimDeadline);
        r.funding = funding;
        settlementToken.safeTransferFrom(msg.sender, address(this), funding);
        emit RoundOpened(roundId, recordDate, funding, claimDeadline);
    }

    /// @inheritdoc IEquityVault
    function postBalanceRoot(uint256 roundId, bytes32 balanceRoot, uint256 totalEligible)
        external
        onlyRole(ORACLE_ROLE)
        whenNotPaused
    {
        Round storage r = _round(roundId);
        if (block.timestamp <= r.recordDate) revert RecordDateNotPassed(roundId, r.recordDate);
        if (r.balanceRoot != bytes32(0)) revert RootAlreadyPosted(roundId);
        if (balanceRoot == bytes32(0) || totalEligible == 0) revert ZeroAmount();
        r.balanceRoot = balanceRoot;
        r.totalEligible = totalEligible;
        r.rootPostedAt = uint64(block.timestamp);
        emit BalanceRootPosted(roundId, balanceRoot, totalEligible, block.timestamp + challengeWindow);
    }

    /// @inheritdoc IEquityVault
    function vetoBalanceRoot(uint256 roundId) external onlyRole(GUARDIAN_ROLE) {
        Round storage r = _round(roundId);
        bytes32 vetoed = r.balanceRoot;
        if (vetoed == bytes32(0) || block.timestamp >= r.rootPostedAt + challengeWindow) {
            revert NotChallengeable(roundId);
        }
        r.balanceRoot = bytes32(0);
        r.totalEligible = 0;
        r.rootPostedAt = 0;
        emit BalanceRootVetoed(roundId, vetoed, msg.sender);
    }

    /// @inheritdoc IEquityVault
    function claimRound(uint256 roundId, address account, uint256 balance, bytes32[] calldata proof)
        external
        whenNotPaused
        returns (uint256 payout)
    {
        Round storage r = _round(roundId);
        uint256 opensAt = r.rootPostedAt + challengeWindow;
        if (r.balanceRoot == bytes32(0) || block.timestamp < opensAt || block.timestamp >= r.claimDeadline) {
            revert RoundNotClaimable(roundId, r.balanceRoot == bytes32(0) ? 0 : opensAt, r.claimDeadline);
        }
        if (hasClaimed[roundId][account]) revert AlreadyClaimed(roundId, account);
        if (!MerkleProof.verifyCalldata(proof, r.balanceRoot, RewardLeaf.hash(account, balance))) {
            revert InvalidProof(account, balance);
        }
        payout = Math.mulDiv(r.funding, balance, r.totalEligible);
        uint256 paid = r.paid + payout;
        if (paid > r.funding) revert RoundOverpaid(roundId, paid, r.funding);
        hasClaimed[roundId][account] = true;
        r.paid = paid;
        settlementToken.safeTransfer(account, payout);
        emit RoundClaimed(roundId, account, balance, payout);
    }

    /// @inheritdoc IEquityVault
    function sweep(uint256 roundId, address to) external onlyRole(TREASURER_ROLE) {
        Round storage r = _round(roundId);
        if (block.timestamp < r.claimDeadline || r.swept) revert NotClosable(roundId, r.claimDeadline);
        r.swept = true;
        uint256 rest = r.funding - r.paid;
        settlementToken.safeTransfer(to, rest);
        emit RoundSwept(roundId, to, rest);
    }

    // ----- buy-back-and-burn -----

    /// @inheritdoc IEquityVault
    function openBuyback(uint256 pricePerStone, uint256 stoneBudget, uint256 start, uint256 end)
        external
        onlyRole(TREASURER_ROLE)
        returns (uint256 buybackId)
    {
        if (pricePerStone == 0 || stoneBudget == 0) revert ZeroAmount();
        if (end <= start || end <= block.timestamp || end > type(uint64).max) revert InvalidWindow(start, end);
        // Rounded up so that floored payouts can never outrun the funding.
        uint256 funding = Math.mulDiv(stoneBudget, pricePerStone, UNIT, Math.Rounding.Ceil);
        buybackId = ++buybackCount;
        _buybacks[buybackId] = Buyback(uint64(start), uint64(end), false, pricePerStone, stoneBudget, 0, funding, 0);
        settlementToken.safeTransferFrom(msg.sender, address(this), funding);
        emit BuybackOpened(buybackId, pricePerStone, stoneBudget, start, end);
    }

    /// @inheritdoc IEquityVault
    function sellBack(uint256 buybackId, uint256 stones, uint256 minPayout) external whenNotPaused returns (uint256) {
        return _sellBack(msg.sender, buybackId, stones, minPayout);
    }

    /// @inheritdoc IEquityVault
    function sellBackBySig(
        address seller,
        uint256 buybackId,
        uint256 stones,
        uint256 minPayout,
        uint256 deadline,
        bytes calldata signature
    ) external whenNotPaused returns (uint256) {
        if (block.timestamp > deadline) revert SignatureExpired(deadline);
        bytes32 digest = _hashTypedDataV4(
            keccak256(abi.encode(SELLBACK_TYPEHASH, seller, buybackId, stones, minPayout, _useNonce(seller), deadline))
        );
        if (!SignatureChecker.isValidSignatureNow(seller, digest, signature)) revert InvalidSignature(seller);
        return _sellBack(seller, buybackId, stones, minPayout);
    }

    /// @inheritdoc IEquityVault
    function closeBuyback(uint256 buybackId, address to) external onlyRole(TREASURER_ROLE) {
        Buyback storage b = _buyback(buybackId);
        if (block.timestamp < b.end || b.closed) revert NotClosable(buybackId, b.end);
        b.closed = true;
        uint256 refund = b.funding - b.paid;
        settlementToken.safeTransfer(to, refund);
        emit BuybackClosed(buybackId, to, refund);
    }

    // ----- views -----

    /// @inheritdoc IEquityVault
    function round(uint256 roundId) external view returns (Round memory) {
        return _rounds[roundId];
    }

    /// @inheritdoc IEquityVault
    function buyback(uint256 buybackId) external view returns (Buyback memory) {
        return _buybacks[buybackId];
    }

    /// @inheritdoc IEquityVault
    function payoutFor(uint256 roundId, uint256 balance) external view returns (uint256) {
        Round storage r = _round(roundId);
        return r.totalEligible == 0 ? 0 : Math.mulDiv(r.funding, balance, r.totalEligible);
    }

    /// @notice The EIP-712 domain separator signers must use.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function _sellBack(address seller, uint256 buybackId, uint256 stones, uint256 minPayout)
        private
        returns (uint256 payout)
    {
        Buyback storage b = _buyback(buybackId);
        if (block.timestamp < b.start || block.timestamp >= b.end || b.closed) revert BuybackNotOpen(buybackId);
        uint256 remaining = b.stoneBudget - b.stonesBought;
        if (stones > remaining) revert BuybackBudgetExceeded(buybackId, stones, remaining);
        payout = Math.mulDiv(stones, b.pricePerStone, UNIT);
        if (payout == 0 || payout < minPayout) revert PayoutTooLow(payout, minPayout);
        b.stonesBought += stones;
        b.paid += payout;
        token.transferFrom(seller, address(this), stones);
        token.burn(stones);
        settlementToken.safeTransfer(seller, payout);
        emit BoughtBack(buybackId, seller, stones, payout);
    }

    function _round(uint256 roundId) private view returns (Round storage r) {
        r = _rounds[roundId];
        if (r.funding == 0) revert UnknownId(roundId);
    }

    function _buyback(uint256 buybackId) private view returns (Buyback storage b) {
        b = _buybacks[buybackId];
        if (b.funding == 0) revert UnknownId(buybackId);
    }
}
