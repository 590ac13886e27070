// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IStoneToken
/// @notice Stones (原石): an ERC20 that records an owner's share in the value created from their data.
/// Stones never move between users. They are minted by the reward distributor, move only into and out of the
/// system escrows (redemption desk, equity vault), are burned by those escrows, and can be moved from a lost
/// account to a new one by a delayed, cancellable recovery.
interface IStoneToken is IERC20 {
    /// @notice A transfer between two ordinary accounts was attempted.
    error StoneNonTransferable(address from, address to);
    /// @notice Only the reward distributor mints.
    error CallerNotDistributor(address caller);
    /// @notice Only a registered system escrow may burn or pull stones.
    error CallerNotEscrow(address caller);
    /// @notice The distributor is bound once, at deployment.
    error DistributorAlreadySet(address distributor);
    /// @notice The zero address was given where an account or contract is required.
    error ZeroAddress();
    /// @notice A recovery for `lost` is already pending.
    error RecoveryAlreadyRequested(address lost, address newAccount);
    /// @notice No recovery is pending for `lost`.
    error RecoveryNotRequested(address lost);
    /// @notice The recovery for `lost` may execute only from `executeAfter`.
    error RecoveryNotReady(address lost, uint256 executeAfter);
    /// @notice `account` cannot be a recovery source or target (zero, this token, an escrow, or the other party).
    error InvalidRecoveryAccount(address account);
    /// @notice Only the lost account or the recovery role may cancel a recovery.
    error NotRecoveryParty(address caller, address lost);

    /// @notice The reward distributor was bound as the only minter.
    event DistributorSet(address indexed distributor);
    /// @notice `escrow` was registered (`enabled`) or unregistered as a system escrow.
    event EscrowSet(address indexed escrow, bool enabled);
    /// @notice The recovery role asked to move `lost`'s balance to `newAccount` from `executeAfter`.
    event RecoveryRequested(address indexed lost, address indexed newAccount, uint256 executeAfter);
    /// @notice A pending recovery of `lost` was cancelled by `by`.
    event RecoveryCancelled(address indexed lost, address indexed by);
    /// @notice `amount` stones moved from `lost` to `newAccount`.
    event RecoveryExecuted(address indexed lost, address indexed newAccount, uint256 amount);

    /// @notice Mints `amount` stones to `to`. Distributor only; capped at 300,000,000 stones.
    function mint(address to, uint256 amount) external;

    /// @notice Burns `amount` of the caller's stones. System escrows only.
    function burn(uint256 amount) external;

    /// @notice Whether `account` is a system escrow.
    function isEscrow(address account) external view returns (bool);

    /// @notice The reward distributor, the only minter.
    function distributor() external view returns (address);
}
