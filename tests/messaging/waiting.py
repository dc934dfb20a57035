import time


def wait_until(condition, *, timeout: float = 60.0, what: str = "condition"):
    """Poll `condition` until it is truthy; fail after `timeout` seconds.

    The deadline only stops a hung test; nothing here measures speed.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Gave up waiting for {what}")
        time.sleep(0.2)
