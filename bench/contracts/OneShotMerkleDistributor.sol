// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title OneShotMerkleDistributor
/// @notice Benchmark baseline only: Uniswap's merkle-distributor (one root, pre-minted tokens, a claimed bitmap).
contract OneShotMerkleDistributor {
    error AlreadyClaimed(uint256 index);
    error InvalidProof();

    event Claimed(uint256 index, address account, uint256 amount);

    IERC20 public immutable token;
    bytes32 public immutable merkleRoot;
    mapping(uint256 word => uint256) private _claimedBitMap;

    constructor(IERC20 token_, bytes32 merkleRoot_) {
        token = token_;
        merkleRoot = merkleRoot_;
    }

    function isClaimed(uint256 index) public view returns (bool) {
        return _claimedBitMap[index / 256] & (1 << (index % 256)) != 0;
    }

    function claim(uint256 index, address account, uint256 amount, bytes32[] calldata merkleProof) external {
        if (isClaimed(index)) revert AlreadyClaimed(index);
        bytes32 node = keccak256(abi.encodePacked(index, account, amount));
        if (!MerkleProof.verifyCalldata(merkleProof, merkleRoot, node)) revert InvalidProof();
        _claimedBitMap[index / 256] |= 1 << (index % 256);
        token.transfer(account, amount);
        emit Claimed(index, account, amount);
    }
}
