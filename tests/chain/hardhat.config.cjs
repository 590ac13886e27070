// The Hardhat node the JSON-RPC tests start (tests/chain/conftest.py copies this file into a temp dir).
// No accounts: the node unlocks none, so every transaction the tests send must be signed locally, as on a
// production node; the tests fund their own keys with hardhat_setBalance.
module.exports = {
  networks: {
    hardhat: {
      chainId: 31337,
      hardfork: "cancun",
      accounts: [],
      mining: { auto: true, interval: 0 },
    },
  },
};
