// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The two emission pools.
enum Pool {
    Driving,
    Cocreation
}

/// @title IEmissionSchedule
/// @notice The halving schedule of DESIGN §2: how many stones each pool may have emitted after a number of slots.
/// Era k (four years of 365.25 days) emits half of what the pool still holds, evenly over its slots.
interface IEmissionSchedule {
    /// @notice A timestamp earlier than genesis was given where a slot was expected.
    error BeforeGenesis(uint256 timestamp, uint256 genesis);
    /// @notice The slot length must be positive.
    error InvalidSlotLength(uint256 slotLength);

    /// @notice Timestamp of the first slot's start.
    function genesis() external view returns (uint256);

    /// @notice Seconds per slot (600 in production).
    function slotLength() external view returns (uint256);

    /// @notice Cumulative stones `pool` may have emitted once `slotsElapsed` slots have passed.
    function available(Pool pool, uint256 slotsElapsed) external pure returns (uint256);

    /// @notice The slot running at `timestamp`; reverts with {BeforeGenesis} before genesis.
    function slotAt(uint256 timestamp) external view returns (uint256);

    /// @notice Slots fully elapsed at `timestamp` (0 before genesis).
    function slotsElapsedAt(uint256 timestamp) external view returns (uint256);

    /// @notice First second of `epoch` (an epoch is 144 slots, one day in production).
    function epochStart(uint256 epoch) external view returns (uint256);

    /// @notice First second after `epoch`, when it has ended.
    function epochEnd(uint256 epoch) external view returns (uint256);

    /// @notice Cumulative stones `pool` may have emitted by the end of `epoch`.
    function availableAtEpochEnd(Pool pool, uint256 epoch) external pure returns (uint256);
}
