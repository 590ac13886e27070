// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pool} from "./IEmissionSchedule.sol";

/// @title IRewardDistributor
/// @notice One root a day, claims when users want (DESIGN §4). Before an epoch starts the oracle commits
/// `keccak256(abi.encode(secret))`; after it ends the oracle posts the root of every account's cumulative
/// entitlement with the pools' cumulative totals and reveals the secret. A posted root becomes claimable after
/// the challenge window, during which the guardian can veto it. A claim mints `cumulative - claimed`.
interface IRewardDistributor {
    /// @notice Per-epoch record; totals are cumulative since genesis.
    struct EpochRecord {
        bytes32 root;
        uint64 postedAt;
        uint96 drivingTotal;
        uint96 cocreationTotal;
    }

    /// @notice The seed of `epoch` was committed already.
    error SeedAlreadyCommitted(uint256 epoch);
    /// @notice Commitments must precede the epoch: `epoch` started at `start`.
    error EpochAlreadyStarted(uint256 epoch, uint256 start);
    /// @notice A zero commitment or root was given.
    error ZeroHash();
    /// @notice Epochs are posted one after another: `expected` is next.
    error EpochOutOfOrder(uint256 epoch, uint256 expected);
    /// @notice `epoch` ends at `end`; it cannot be settled before.
    error EpochNotEnded(uint256 epoch, uint256 end);
    /// @notice No seed was committed for `epoch`.
    error SeedNotCommitted(uint256 epoch);
    /// @notice The revealed secret does not hash to the commitment of `epoch`.
    error SecretMismatch(uint256 epoch, bytes32 commitment, bytes32 revealedHash);
    /// @notice A pool's cumulative total went down from `previous` to `posted`.
    error TotalDecreased(Pool pool, uint256 previous, uint256 posted);
    /// @notice A pool's cumulative total exceeds what the schedule allows by the epoch's end.
    error TotalExceedsSchedule(Pool pool, uint256 total, uint256 available);
    /// @notice `epoch` is not a posted epoch still inside its challenge window (it closed at `claimableAt`).
    error NotChallengeable(uint256 epoch, uint256 claimableAt);
    /// @notice No posted epoch has passed its challenge window yet.
    error NoClaimableEpoch();
    /// @notice The proof does not place `(account, cumulativeAmount)` in the claimable root.
    error InvalidProof(address account, uint256 cumulativeAmount);
    /// @notice `account` has claimed `claimed` already, which covers `cumulativeAmount`.
    error NothingToClaim(address account, uint256 cumulativeAmount, uint256 claimed);
    /// @notice Claims would total `claimedTotal`, above the claimable epoch's pool totals `epochTotal`.
    error ClaimsExceedEpochTotal(uint256 claimedTotal, uint256 epochTotal);
    /// @notice Batch arrays differ in length.
    error LengthMismatch(uint256 accounts, uint256 amounts, uint256 proofs);

    /// @notice The oracle committed to `epoch`'s secret.
    event SeedCommitted(uint256 indexed epoch, bytes32 commitment);
    /// @notice `epoch` was settled; everything an auditor needs to recompute it is in this event.
    event EpochPosted(
        uint256 indexed epoch,
        bytes32 root,
        uint256 drivingTotal,
        uint256 cocreationTotal,
        bytes32 inputsRoot,
        bytes32 secret,
        bytes32 manifestHash,
        uint256 claimableAt
    );
    /// @notice The guardian vetoed `epoch` (and any epoch posted after it); the oracle must post it again.
    event EpochVetoed(uint256 indexed epoch, bytes32 root, address indexed guardian);
    /// @notice `amount` stones were minted to `account`, whose claims now total `cumulativeAmount`.
    event Claimed(address indexed account, uint256 amount, uint256 cumulativeAmount);

    /// @notice Commits `commitment = keccak256(abi.encode(secret))` for `epoch`, before the epoch starts.
    function commitSeed(uint256 epoch, bytes32 commitment) external;

    /// @notice Settles `epoch` (the next one, ended, with its seed committed) and reveals its secret.
    function postEpoch(
        uint256 epoch,
        bytes32 root,
        uint256 drivingTotal,
        uint256 cocreationTotal,
        bytes32 inputsRoot,
        bytes32 secret,
        bytes32 manifestHash
    ) external;

    /// @notice Rejects `epoch` and every later posted epoch while `epoch` is in its challenge window.
    function veto(uint256 epoch) external;

    /// @notice Mints `cumulativeAmount - claimed[account]` to `account`; callable by anyone.
    function claim(address account, uint256 cumulativeAmount, bytes32[] calldata proof) external;

    /// @notice Claims for many accounts against one root; accounts already paid in full are skipped.
    /// @return paid how many accounts received stones
    function claimMany(address[] calldata accounts, uint256[] calldata cumulativeAmounts, bytes32[][] calldata proofs)
        external
        returns (uint256 paid);

    /// @notice The latest epoch past its challenge window; `found` is false when there is none.
    function claimableEpoch() external view returns (bool found, uint256 epoch);

    /// @notice The record of `epoch` (zero when not posted).
    function epochRecord(uint256 epoch) external view returns (EpochRecord memory);

    /// @notice Stones already minted to `account`.
    function claimed(address account) external view returns (uint256);
}
