"""A Hardhat node for the JSON-RPC tests: started once per session on 127.0.0.1, stopped at the end.

Missing Node.js or Hardhat fails these tests instead of skipping them: a skipped JSON-RPC suite would look
green while the production path went untested.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger.chain import rpc
from ledger.chain.client import ChainClient
from ledger.chain.deploy import DeployParams, RoleHolders, System, deploy_system
from tests.contracts.helpers import commitment_for

REPO = Path(__file__).resolve().parents[2]
HARDHAT = REPO / "node_modules" / ".bin" / "hardhat"
CONFIG = Path(__file__).with_name("hardhat.config.cjs")
CHAIN_ID = 31337
START_TIMEOUT = 60.0
PRECOMMITTED_EPOCHS = 3
LISTEN = ("--hostname", "127.0.0.1", "--port")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _chain_id(url: str) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(json.load(response)["result"], 16)
    except (OSError, urllib.error.URLError, ValueError, KeyError):
        return None


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # The node runs in its own session, so its process group holds it and anything it spawned, and nothing
    # else.
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _start(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"hardhat-{port}.log"
    env = dict(os.environ, HARDHAT_DISABLE_TELEMETRY_PROMPT="true", CI="true")
    # The operator's keystore password is no business of the node's.
    env.pop("YUANSHI_KEYSTORE_PASSWORD", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(HARDHAT), "--config", str(workdir / CONFIG.name), "node", *LISTEN, str(port)],
            # Hardhat 2 runs only from a directory where it is installed locally, hence the repository.
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return process, log


@pytest.fixture(scope="session")
def hardhat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a Hardhat node (chain id 31337, cancun, no unlocked accounts) on a free local port."""
    if shutil.which("node") is None:
        pytest.fail("Node.js is not on PATH: the JSON-RPC tests need it to run a Hardhat node")
    if not HARDHAT.exists():
        pytest.fail(f"{HARDHAT} is missing: run `npm ci` in {REPO} to install Hardhat")
    workdir = tmp_path_factory.mktemp("hardhat")
    shutil.copy(CONFIG, workdir / CONFIG.name)
    failures: list[str] = []
    # Another process can take the free port between the probe and Hardhat's bind; a new port fixes that.
    for _attempt in range(3):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process, log = _start(workdir, port)
        deadline = time.monotonic() + START_TIMEOUT
        try:
            while process.poll() is None and time.monotonic() < deadline:
                chain_id = _chain_id(url)
                if chain_id is not None:
                    assert chain_id == CHAIN_ID, f"node at {url} reports chain id {chain_id}"
                    yield url
                    return
                time.sleep(0.2)
        finally:
            _stop(process)
        output = log.read_text(errors="replace")
        failures.append(f"port {port}: {output[-2000:]}")
        if "EADDRINUSE" not in output:
            break
    pytest.fail("Hardhat node did not answer eth_chainId:\n" + "\n".join(failures))


@pytest.fixture(scope="session")
def node(hardhat_url: str) -> ChainClient:
    """A client on the node, holding no keys yet: each test's keys are added as signers."""
    return rpc.connect(hardhat_url)


@dataclass(frozen=True)
class Keys:
    """Locally held keys with ether on the node: eight role holders, then users."""

    roles: list[LocalAccount]
    alice: LocalAccount
    bob: LocalAccount
    stranger: LocalAccount

    def all(self) -> list[LocalAccount]:
        return [*self.roles, self.alice, self.bob, self.stranger]


@pytest.fixture(scope="session")
def keys(node: ChainClient) -> Keys:
    created = Keys([Account.create() for _ in range(8)], Account.create(), Account.create(), Account.create())
    for account in created.all():
        rpc.set_balance(node, account.address, 1000 * 10**18)
        node.add_signer(account)
    return created


@pytest.fixture(scope="session")
def roles(keys: Keys) -> RoleHolders:
    return RoleHolders(*[account.address for account in keys.roles])


@pytest.fixture(scope="session")
def deployed(node: ChainClient, roles: RoleHolders) -> System:
    """The whole system on the node, genesis an hour ahead of the node's clock, seeds committed for
    epochs 0..2."""
    system = deploy_system(node, roles, DeployParams(genesis=node.now() + 3600))
    for epoch in range(PRECOMMITTED_EPOCHS):
        node.send(system.distributor.functions.commitSeed(epoch, commitment_for(epoch)), roles.oracle)
    return system


@pytest.fixture
def system(node: ChainClient, deployed: System) -> Iterator[System]:
    """The deployed system, with every change a test makes (including moved time) undone afterwards."""
    mark = rpc.snapshot(node)
    yield deployed
    rpc.revert(node, mark)
