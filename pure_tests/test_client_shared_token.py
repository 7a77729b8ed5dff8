"""One token for every process: TokenCache with a SharedTokenStore (the addon keeps it
in its database; here a file under an exclusive lock), driven by real OS processes
against the simulator over HTTP."""

import fcntl
import json
import multiprocessing
import os
import time
from pathlib import Path

from client_scenario import ALICE, WEB_API_KEY
from crmcom import CrmcomClient, SharedTokenStore, TokenCache

ALICE_ID = {"number": ALICE["number"]}
PROCESSES = 4
CALLS_PER_PROCESS = 5


class FileTokenStore(SharedTokenStore):
    """A JSON file; its exclusive lock is the "one login at a time" lock."""

    def __init__(self, path):
        self.path = Path(path)
        self.lock_path = self.path.with_suffix(".lock")

    def _read(self):
        try:
            return json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def _write(self, tokens):
        self.path.write_text(json.dumps(tokens))

    def load(self, key):
        kept = self._read().get(key)
        return tuple(kept) if kept and kept[0] else None

    def login_once(self, key, login, *, refused=None):
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            kept = self._read().get(key)
            if kept and kept[0] and kept[0] != refused and time.time() < kept[1]:
                return tuple(kept)
            token, renew_at = login()
            self.save(key, token, renew_at)
            return token, renew_at

    def save(self, key, token, renew_at):
        tokens = self._read()
        tokens[key] = [token, renew_at]
        self._write(tokens)

    def discard(self, key, token):
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            tokens = self._read()
            if tokens.get(key, [None])[0] == token:
                tokens[key] = [None, 0]
                self._write(tokens)


def _till_process(base_url, store_path, start, done):
    """One OS process of the deployment: its own token cache, the shared store."""
    client = CrmcomClient(
        base_url,
        web_api_key=WEB_API_KEY,
        token_cache=TokenCache(),
        token_store=FileTokenStore(store_path),
        timeout=(2, 5),
    )
    start.wait(10)
    for _ in range(CALLS_PER_PROCESS):
        client.show_rewards_participant(ALICE_ID)
    done.put(os.getpid())


def _run_processes(simulator, store_path):
    context = multiprocessing.get_context("spawn")
    start, done = context.Event(), context.Queue()
    processes = [
        context.Process(target=_till_process, args=(simulator.base_url, store_path, start, done))
        for _ in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0, process.exitcode
    return {done.get(timeout=5) for _ in processes}


def test_processes_sharing_a_store_log_in_once(simulator, tmp_path):
    pids = _run_processes(simulator, tmp_path / "tokens.json")
    assert len(pids) == PROCESSES
    assert simulator.login_count == 1
    assert simulator.call_count("rewards_participants/show") == PROCESSES * CALLS_PER_PROCESS


def test_a_refused_token_is_renewed_once_for_every_process(simulator, tmp_path):
    store = tmp_path / "tokens.json"
    _run_processes(simulator, store)
    simulator.expire_tokens()  # CRM.COM ends the session of the shared token
    _run_processes(simulator, store)
    # The new processes take the stored token, are refused, and one of them logs in.
    assert simulator.login_count == 2


def test_without_a_store_each_process_logs_in(simulator):
    # What the store is for: the same processes, each with its own token only.
    client = CrmcomClient(simulator.base_url, web_api_key=WEB_API_KEY, token_cache=TokenCache())
    other = CrmcomClient(simulator.base_url, web_api_key=WEB_API_KEY, token_cache=TokenCache())
    client.show_rewards_participant(ALICE_ID)
    other.show_rewards_participant(ALICE_ID)
    assert simulator.login_count == 2
