// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IStoneToken} from "./interfaces/IStoneToken.sol";
import {SystemRoles} from "./access/SystemRoles.sol";

/// @title StoneToken
/// @notice See {IStoneToken}. There is deliberately no switch that makes stones transferable.
/// @dev Every balance change passes through {_update}, which admits mint, burn and escrow moves only.
/// Record-date balances for equity rounds come from a balance root that the ledger computes from this
/// token's Transfer events (see EquityVault), which keeps claims free of per-transfer checkpoint writes.
contract StoneToken is ERC20Capped, SystemRoles, IStoneToken {
    uint256 public constant CAP = 300_000_000 * 1e18;

    struct Recovery {
        address newAccount;
        uint64 executeAfter;
    }

    /// @notice Seconds between a recovery request and its earliest execution.
    uint256 public immutable recoveryDelay;

    address public distributor;
    mapping(address account => bool) public isEscrow;
    mapping(address lost => Recovery) private _recoveries;

    modifier onlyEscrow() {
        if (!isEscrow[msg.sender]) revert CallerNotEscrow(msg.sender);
        _;
    }

    constructor(address admin, uint48 adminDelay, uint256 recoveryDelay_)
        ERC20("Yuanshi Stone", "STONE")
        ERC20Capped(CAP)
        SystemRoles(admin, adminDelay)
    {
        recoveryDelay = recoveryDelay_;
    }

    /// @notice Binds the reward distributor as the only minter; callable once.
    function setDistributor(address distributor_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (distributor != address(0)) revert DistributorAlreadySet(distributor);
        if (distributor_ == address(0)) revert ZeroAddress();
        distributor = distributor_;
        emit DistributorSet(distributor_);
    }

    /// @notice Registers or unregisters a system escrow (the redemption desk, the equity vault).
    function setEscrow(address escrow, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (escrow == address(0)) revert ZeroAddress();
        isEscrow[escrow] = enabled;
        emit EscrowSet(escrow, enabled);
    }

    /// @inheritdoc IStoneToken
    function mint(address to, uint256 amount) external {
        if (msg.sender != distributor) revert CallerNotDistributor(msg.sender);
        _mint(to, amount);
    }

    /// @inheritdoc IStoneToken
    function burn(uint256 amount) external onlyEscrow {
        _burn(msg.sender, amount);
    }

    /// @notice System escrows pull stones without a prior approval: an escrow moves stones only for the holder
    /// who called it or who signed the request, so custodial wallets need no approval transaction.
    function allowance(address owner, address spender) public view override(ERC20, IERC20) returns (uint256) {
        return isEscrow[spender] ? type(uint256).max : super.allowance(owner, spender);
    }

    /// @notice Asks to move `lost`'s whole balance to `newAccount` once {recoveryDelay} has passed.
    function requestRecovery(address lost, address newAccount) external onlyRole(RECOVERY_ROLE) {
        Recovery storage pending = _recoveries[lost];
        if (pending.newAccount != address(0)) revert RecoveryAlreadyRequested(lost, pending.newAccount);
        if (lost == address(0) || isEscrow[lost]) revert InvalidRecoveryAccount(lost);
        if (newAccount == address(0) || newAccount == lost || newAccount == address(this) || isEscrow[newAccount]) {
            revert InvalidRecoveryAccount(newAccount);
        }
        uint64 executeAfter = uint64(block.timestamp + recoveryDelay);
        _recoveries[lost] = Recovery(newAccount, executeAfter);
        emit RecoveryRequested(lost, newAccount, executeAfter);
    }

    /// @notice Cancels a pending recovery; the lost account itself can always do this during the delay.
    function cancelRecovery(address lost) external {
        if (msg.sender != lost && !hasRole(RECOVERY_ROLE, msg.sender)) revert NotRecoveryParty(msg.sender, lost);
        if (_recoveries[lost].newAccount == address(0)) revert RecoveryNotRequested(lost);
        delete _recoveries[lost];
        emit RecoveryCancelled(lost, msg.sender);
    }

    /// @notice Moves `lost`'s balance to the recovery target once the delay has passed.
    function executeRecovery(address lost) external onlyRole(RECOVERY_ROLE) {
        Recovery memory pending = _recoveries[lost];
        if (pending.newAccount == address(0)) revert RecoveryNotRequested(lost);
        if (block.timestamp < pending.executeAfter) revert RecoveryNotReady(lost, pending.executeAfter);
        delete _recoveries[lost];
        uint256 amount = balanceOf(lost);
        // The one sanctioned user-to-user move: it bypasses the transfer rule of {_update} on purpose.
        ERC20._update(lost, pending.newAccount, amount);
        emit RecoveryExecuted(lost, pending.newAccount, amount);
    }

    /// @notice The pending recovery of `lost`, if any (`newAccount` is zero when none).
    function pendingRecovery(address lost) external view returns (address newAccount, uint256 executeAfter) {
        Recovery memory pending = _recoveries[lost];
        return (pending.newAccount, pending.executeAfter);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0) && !isEscrow[from] && !isEscrow[to]) {
            revert StoneNonTransferable(from, to);
        }
        super._update(from, to, value);
    }
}
