"""Failed logins back off per user name and per client address."""

from __future__ import annotations

from dashboards.auth import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_free_attempts_then_doubling_lockouts():
    clock = Clock()
    limiter = LoginLimiter(free=3, base_delay=10, max_delay=60, clock=clock)
    for _ in range(3):
        assert limiter.failed("rita", "10.0.0.1") == 0
    assert limiter.wait("rita", "10.0.0.1") == 0
    assert limiter.failed("rita", "10.0.0.1") == 10
    clock.now += 10
    assert limiter.wait("rita", "10.0.0.1") == 0
    assert limiter.failed("rita", "10.0.0.1") == 20
    assert limiter.failed("rita", "10.0.0.1") == 40
    assert limiter.failed("rita", "10.0.0.1") == 60  # capped
    assert limiter.wait("rita", "10.0.0.1") == 60


def test_a_user_is_locked_from_every_address_and_an_address_for_every_user():
    clock = Clock()
    limiter = LoginLimiter(free=2, base_delay=30, clock=clock)
    for n in range(3):  # one user guessed from three addresses
        limiter.failed("rita", f"10.0.0.{n}")
    assert limiter.wait("rita", "192.168.1.1") == 30
    assert limiter.wait("sam", "192.168.1.1") == 0
    for name in ("a", "b", "c"):  # three users guessed from one address
        limiter.failed(name, "172.16.0.9")
    assert limiter.wait("sam", "172.16.0.9") == 30
    assert limiter.wait("sam", "172.16.0.8") == 0
    clock.now += 31
    assert limiter.wait("rita", "192.168.1.1") == 0 and limiter.wait("sam", "172.16.0.9") == 0


def test_success_forgets_failures_and_names_ignore_case():
    clock = Clock()
    limiter = LoginLimiter(free=2, base_delay=30, clock=clock)
    limiter.failed("Rita", "10.0.0.1")
    limiter.failed("rita ", "10.0.0.1")
    limiter.succeeded("rita", "10.0.0.1")
    assert limiter.failed("RITA", "10.0.0.1") == 0


def test_memory_is_bounded():
    clock = Clock()
    limiter = LoginLimiter(free=5, clock=clock)
    limiter.MAX_KEYS = 100
    for n in range(1000):
        limiter.failed(f"user{n}", f"10.0.{n // 256}.{n % 256}")
        clock.now += 1
    assert len(limiter._keys) <= 102
