// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Checkpoints} from "@openzeppelin/contracts/utils/structs/Checkpoints.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/// @title PlainBenchToken
/// @notice Benchmark baseline only: a plain ERC20 that anyone can mint, funding the one-shot distributor.
contract PlainBenchToken is ERC20 {
    constructor() ERC20("Bench", "BENCH") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}

/// @title NaiveTripToken
/// @notice Benchmark baseline only: the design Yuanshi avoids, an oracle minting a reward for every trip.
contract NaiveTripToken is ERC20 {
    event TripRewarded(address indexed owner, bytes32 indexed tripHash, uint256 amount);

    mapping(bytes32 tripHash => bool) public rewarded;

    constructor() ERC20("Naive", "NAIVE") {}

    function rewardTrip(address owner, bytes32 tripHash, uint256 amount) external {
        require(!rewarded[tripHash], "trip rewarded");
        rewarded[tripHash] = true;
        _mint(owner, amount);
        emit TripRewarded(owner, tripHash, amount);
    }
}

/// @title CheckpointedBenchToken
/// @notice Benchmark baseline only: an ERC20 that writes a balance checkpoint on every balance change, the
/// alternative to a record-date balance root; its mint cost against a plain mint is what every claim would pay.
contract CheckpointedBenchToken is ERC20 {
    using Checkpoints for Checkpoints.Trace208;

    mapping(address account => Checkpoints.Trace208) private _balanceHistory;
    Checkpoints.Trace208 private _supplyHistory;

    constructor() ERC20("Checkpointed", "CKPT") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function balanceAt(address account, uint48 timepoint) external view returns (uint256) {
        return _balanceHistory[account].upperLookupRecent(timepoint);
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        uint48 now_ = Time.timestamp();
        if (from != address(0)) _balanceHistory[from].push(now_, uint208(balanceOf(from)));
        if (to != address(0)) _balanceHistory[to].push(now_, uint208(balanceOf(to)));
        if (from == address(0) || to == address(0)) _supplyHistory.push(now_, uint208(totalSupply()));
    }
}
