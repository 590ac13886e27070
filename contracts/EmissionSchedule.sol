// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IEmissionSchedule, Pool} from "./interfaces/IEmissionSchedule.sol";

/// @title EmissionSchedule
/// @notice The one on-chain statement of DESIGN §2. `ledger/schedule.py` states the same formula in Python;
/// tests compare the two at slot 0, 1, every era boundary ±1 and random slots.
contract EmissionSchedule is IEmissionSchedule {
    uint256 public constant UNIT = 1e18;
    uint256 public constant POOL_DRIVING = 210_000_000 * UNIT;
    uint256 public constant POOL_COCREATION = 90_000_000 * UNIT;
    uint256 public constant SLOTS_PER_EPOCH = 144;
    uint256 public constant SLOTS_PER_ERA = 1461 * 144;

    uint256 public immutable genesis;
    uint256 public immutable slotLength;

    constructor(uint256 genesis_, uint256 slotLength_) {
        if (slotLength_ == 0) revert InvalidSlotLength(slotLength_);
        genesis = genesis_;
        slotLength = slotLength_;
    }

    /// @inheritdoc IEmissionSchedule
    function available(Pool pool, uint256 slotsElapsed) public pure returns (uint256) {
        uint256 total = pool == Pool.Driving ? POOL_DRIVING : POOL_COCREATION;
        uint256 era = slotsElapsed / SLOTS_PER_ERA;
        uint256 intoEra = slotsElapsed % SLOTS_PER_ERA;
        // Shifts past 255 bits yield 0 in the EVM, which is the exhausted pool: no special case needed.
        return total - (total >> era) + ((total >> (era + 1)) * intoEra) / SLOTS_PER_ERA;
    }

    /// @inheritdoc IEmissionSchedule
    function slotAt(uint256 timestamp) public view returns (uint256) {
        if (timestamp < genesis) revert BeforeGenesis(timestamp, genesis);
        return (timestamp - genesis) / slotLength;
    }

    /// @inheritdoc IEmissionSchedule
    function slotsElapsedAt(uint256 timestamp) external view returns (uint256) {
        return timestamp < genesis ? 0 : (timestamp - genesis) / slotLength;
    }

    /// @inheritdoc IEmissionSchedule
    function epochStart(uint256 epoch) public view returns (uint256) {
        return genesis + epoch * SLOTS_PER_EPOCH * slotLength;
    }

    /// @inheritdoc IEmissionSchedule
    function epochEnd(uint256 epoch) external view returns (uint256) {
        return epochStart(epoch + 1);
    }

    /// @inheritdoc IEmissionSchedule
    function availableAtEpochEnd(Pool pool, uint256 epoch) external pure returns (uint256) {
        return available(pool, (epoch + 1) * SLOTS_PER_EPOCH);
    }
}
