// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title SystemRoles
/// @notice The role identifiers shared by every Yuanshi contract, and the admin rules they all follow:
/// one default admin, transferred in two steps with a delay (OpenZeppelin's AccessControlDefaultAdminRules).
/// @dev Every operational role is distinct so that one compromised key can do one thing only.
abstract contract SystemRoles is AccessControlDefaultAdminRules {
    bytes32 public constant ORACLE_ROLE = keccak256("ORACLE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant CATALOGUE_ROLE = keccak256("CATALOGUE_ROLE");
    bytes32 public constant FULFILLER_ROLE = keccak256("FULFILLER_ROLE");
    bytes32 public constant TREASURER_ROLE = keccak256("TREASURER_ROLE");
    bytes32 public constant RECOVERY_ROLE = keccak256("RECOVERY_ROLE");

    constructor(address admin, uint48 adminDelay) AccessControlDefaultAdminRules(adminDelay, admin) {}
}

/// @title SystemPausable
/// @notice Adds an emergency stop that only the pauser role can pull or release.
abstract contract SystemPausable is SystemRoles, Pausable {
    /// @notice Stops the functions marked `whenNotPaused`.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes the functions marked `whenNotPaused`.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }
}
