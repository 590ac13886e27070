// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title TestSettlementToken
/// @notice A 6-decimal stand-in for the settlement currency of equity rounds, for tests and demos only:
/// anyone can mint.
contract TestSettlementToken is ERC20 {
    constructor() ERC20("Test Settlement Yuan", "tCNY") {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
