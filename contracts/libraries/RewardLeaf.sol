// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @title RewardLeaf
/// @notice The one leaf encoding of every Yuanshi Merkle tree: OpenZeppelin StandardMerkleTree's
/// `(address, uint256)` leaf. Reward trees carry cumulative entitlements; record-date trees carry balances.
/// @dev Double hashing makes a leaf preimage 32 bytes long, so a 64-byte inner node can never pass as a leaf.
/// The Python twin is `ledger.merkle.leaf_hash`; the golden test checks both against OpenZeppelin's library.
library RewardLeaf {
    function hash(address account, uint256 amount) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(account, amount))));
    }
}
