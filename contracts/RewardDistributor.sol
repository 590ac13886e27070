// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IEmissionSchedule, Pool} from "./interfaces/IEmissionSchedule.sol";
import {IRewardDistributor} from "./interfaces/IRewardDistributor.sol";
import {IStoneToken} from "./interfaces/IStoneToken.sol";
import {RewardLeaf} from "./libraries/RewardLeaf.sol";
import {SystemPausable, SystemRoles} from "./access/SystemRoles.sol";

/// @title RewardDistributor
/// @notice See {IRewardDistributor}.
/// @dev Invariants, each enforced here rather than trusted to the oracle:
/// - a pool's posted cumulative total never exceeds `available(pool, end of epoch)` and never decreases;
/// - stones minted by claims never exceed the claimable epoch's two totals together, whatever the tree says;
/// - an account is never paid beyond the cumulative amount its leaf states.
contract RewardDistributor is SystemPausable, IRewardDistributor {
    IStoneToken public immutable token;
    IEmissionSchedule public immutable schedule;
    /// @notice Seconds a posted root waits, open to a guardian veto, before it becomes claimable.
    uint256 public immutable challengeWindow;

    /// @notice The next epoch to post; every epoch below it is posted.
    uint256 public nextEpoch;
    /// @notice Stones minted by claims since genesis.
    uint256 public totalClaimed;
    mapping(uint256 epoch => bytes32) public seedCommitment;
    mapping(address account => uint256) public claimed;
    mapping(uint256 epoch => EpochRecord) private _epochs;

    constructor(
        address admin,
        uint48 adminDelay,
        IStoneToken token_,
        IEmissionSchedule schedule_,
        uint256 challengeWindow_
    ) SystemRoles(admin, adminDelay) {
        token = token_;
        schedule = schedule_;
        challengeWindow = challengeWindow_;
    }

    /// @inheritdoc IRewardDistributor
    function commitSeed(uint256 epoch, bytes32 commitment) external onlyRole(ORACLE_ROLE) {
        if (commitment == bytes32(0)) revert ZeroHash();
        if (seedCommitment[epoch] != bytes32(0)) revert SeedAlreadyCommitted(epoch);
        uint256 start = schedule.epochStart(epoch);
        if (block.timestamp >= start) revert EpochAlreadyStarted(epoch, start);
        seedCommitment[epoch] = commitment;
        emit SeedCommitted(epoch, commitment);
    }

    /// @inheritdoc IRewardDistributor
    function postEpoch(
        uint256 epoch,
        bytes32 root,
        uint256 drivingTotal,
        uint256 cocreationTotal,
        bytes32 inputsRoot,
        bytes32 secret,
        bytes32 manifestHash
    ) external onlyRole(ORACLE_ROLE) whenNotPaused {
        if (epoch != nextEpoch) revert EpochOutOfOrder(epoch, nextEpoch);
        if (root == bytes32(0)) revert ZeroHash();
        uint256 end = schedule.epochEnd(epoch);
        if (block.timestamp < end) revert EpochNotEnded(epoch, end);
        bytes32 commitment = seedCommitment[epoch];
        if (commitment == bytes32(0)) revert SeedNotCommitted(epoch);
        bytes32 revealed = keccak256(abi.encode(secret));
        if (revealed != commitment) revert SecretMismatch(epoch, commitment, revealed);
        _checkTotal(Pool.Driving, epoch, drivingTotal);
        _checkTotal(Pool.Cocreation, epoch, cocreationTotal);

        // Both totals are below 2^96 once checked against the schedule (300M stones < 7.9e28).
        _epochs[epoch] = EpochRecord(root, uint64(block.timestamp), uint96(drivingTotal), uint96(cocreationTotal));
        nextEpoch = epoch + 1;
        emit EpochPosted(
            epoch,
            root,
            drivingTotal,
            cocreationTotal,
            inputsRoot,
            secret,
            manifestHash,
            block.timestamp + challengeWindow
        );
    }

    /// @inheritdoc IRewardDistributor
    function veto(uint256 epoch) external onlyRole(GUARDIAN_ROLE) {
        EpochRecord memory record = _epochs[epoch];
        uint256 claimableAt = record.postedAt + challengeWindow;
        if (epoch >= nextEpoch || block.timestamp >= claimableAt) revert NotChallengeable(epoch, claimableAt);
        // Later epochs build on this one's cumulative amounts, so they fall with it.
        for (uint256 e = epoch; e < nextEpoch; ++e) {
            delete _epochs[e];
        }
        nextEpoch = epoch;
        emit EpochVetoed(epoch, record.root, msg.sender);
    }

    /// @inheritdoc IRewardDistributor
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external whenNotPaused {
        EpochRecord memory record = _claimableRecord();
        uint256 already = claimed[account];
        if (cumulativeAmount <= already) revert NothingToClaim(account, cumulativeAmount, already);
        _settleTotal(record, totalClaimed + (cumulativeAmount - already));
        _pay(record.root, account, cumulativeAmount, already, proof);
    }

    /// @inheritdoc IRewardDistributor
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        whenNotPaused
        returns (uint256 paid)
    {
        if (accounts.length != cumulativeAmounts.length || accounts.length != proofs.length) {
            revert LengthMismatch(accounts.length, cumulativeAmounts.length, proofs.length);
        }
        EpochRecord memory record = _claimableRecord();
        uint256 total = totalClaimed;
        for (uint256 i = 0; i < accounts.length; ++i) {
            uint256 already = claimed[accounts[i]];
            // Skipping instead of reverting keeps a relayer's batch valid when someone claimed in between.
            if (cumulativeAmounts[i] <= already) continue;
            _pay(record.root, accounts[i], cumulativeAmounts[i], already, proofs[i]);
            total += cumulativeAmounts[i] - already;
            ++paid;
        }
        _settleTotal(record, total);
    }

    /// @inheritdoc IRewardDistributor
    function claimableEpoch() public view returns (bool found, uint256 epoch) {
        // Pending epochs are the few posted within the last window, so this walk is short.
        for (uint256 e = nextEpoch; e > 0; --e) {
            if (block.timestamp >= _epochs[e - 1].postedAt + challengeWindow) return (true, e - 1);
        }
        return (false, 0);
    }

    /// @inheritdoc IRewardDistributor
    function epochRecord(uint256 epoch) external view returns (EpochRecord memory) {
        return _epochs[epoch];
    }

    function _claimableRecord() private view returns (EpochRecord memory) {
        (bool found, uint256 epoch) = claimableEpoch();
        if (!found) revert NoClaimableEpoch();
        return _epochs[epoch];
    }

    function _pay(bytes32 root, address account, uint256 cumulativeAmount, uint256 already, bytes32[] calldata proof)
        private
    {
        if (!MerkleProof.verifyCalldata(proof, root, RewardLeaf.hash(account, cumulativeAmount))) {
            revert InvalidProof(account, cumulativeAmount);
        }
        uint256 amount = cumulativeAmount - already;
        claimed[account] = cumulativeAmount;
        token.mint(account, amount);
        emit Claimed(account, amount, cumulativeAmount);
    }

    function _settleTotal(EpochRecord memory record, uint256 newTotal) private {
        uint256 epochTotal = uint256(record.drivingTotal) + record.cocreationTotal;
        if (newTotal > epochTotal) revert ClaimsExceedEpochTotal(newTotal, epochTotal);
        totalClaimed = newTotal;
    }

    function _checkTotal(Pool pool, uint256 epoch, uint256 total) private view {
        uint256 cap = schedule.availableAtEpochEnd(pool, epoch);
        if (total > cap) revert TotalExceedsSchedule(pool, total, cap);
        if (epoch > 0) {
            EpochRecord storage previous = _epochs[epoch - 1];
            uint256 before = pool == Pool.Driving ? previous.drivingTotal : previous.cocreationTotal;
            if (total < before) revert TotalDecreased(pool, before, total);
        }
    }
}
