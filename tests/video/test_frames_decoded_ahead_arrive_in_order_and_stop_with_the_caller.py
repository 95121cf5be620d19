"""Frames decoded ahead on a thread of their own (safeguard.video.clip.ahead) arrive in order, an
error while decoding reaches the caller where it happened, no more than the bound wait, and a
caller that stops early stops the thread."""

from __future__ import annotations

import threading

import pytest

from safeguard.video.clip import ClipError, ahead


def test_items_arrive_in_order_and_all_of_them():
    assert list(ahead(iter(range(100)), 4)) == list(range(100))


def test_an_error_while_decoding_is_raised_after_the_items_before_it():
    def decoded():
        yield from range(5)
        raise ClipError("the video stops decoding part-way")

    got = []
    with pytest.raises(ClipError, match="part-way"):
        for item in ahead(decoded(), 2):
            got.append(item)  # noqa: PERF402 - the items before the error, one by one
    assert got == list(range(5))


def test_no_more_than_the_bound_are_decoded_ahead_and_an_early_stop_ends_the_thread():
    made = []
    closed = threading.Event()

    def decoded():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    it = ahead(decoded(), 3)
    assert next(it) == 0
    threading.Event().wait(0.3)
    assert len(made) <= 1 + 3 + 1  # the one taken, the queue's three, one waiting to go in
    it.close()
    assert closed.wait(5)
    assert not any(t.name == "safeguard-decode" and t.is_alive() for t in threading.enumerate())
