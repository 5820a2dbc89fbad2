"""Stopping training on request: SIGTERM (a cluster's preemption, `kill`) or SIGINT (Ctrl-C).

The first signal is only noted; the engine finishes the step, writes last.pt and raises
TrainingStopped, whose message says where the checkpoint is and how to resume. A second signal has
its usual effect at once. Data-loader worker processes ignore both, so that a signal sent to the
whole process group (Ctrl-C in a terminal, a scheduler) does not kill them under the step being finished.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any, Iterator

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class TrainingStopped(RuntimeError):
    """Training stopped on a signal after writing a checkpoint; `exit_code` is the shell's 128 + signal number."""

    def __init__(self, message: str, signal_number: int):
        super().__init__(message)
        self.signal_number = signal_number
        self.exit_code = 128 + signal_number


@contextlib.contextmanager
def stop_signals(stage: str) -> Iterator[list[int]]:
    """While training, the first SIGTERM or SIGINT is noted in the yielded list (the loop then stops after
    the step); a second one has the signal's usual effect. Only the main thread can set handlers; in
    another (an application that trains in a thread) signals keep theirs."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {}
    for number in STOP_SIGNALS:
        handler = signal.getsignal(number)
        if handler is not signal.SIG_IGN:  # an ignored signal (a background job's SIGINT) stays ignored
            # None: a handler set outside Python, which cannot be put back; the default is the nearest
            previous[number] = signal.SIG_DFL if handler is None else handler

    def note(number: int, frame: Any) -> None:
        received.append(number)
        for each, handler in previous.items():  # a second signal stops at once
            signal.signal(each, handler)
        log.warning("%s: %s received; finishing this step and writing a checkpoint (send it again to stop at "
                    "once, without one)", stage, signal.Signals(number).name)

    for number in previous:
        signal.signal(number, note)
    try:
        yield received
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def stopped(number: int, step: int, checkpoint: Any) -> TrainingStopped:
    """The error that ends a run stopped by signal `number` after `step`, its checkpoint written."""
    name = signal.Signals(number).name
    return TrainingStopped(f"stopped by {name} at step {step}; checkpoint {checkpoint}; run the same command "
                           "to resume", number)


def ignore_stop_signals(worker_id: int = 0) -> None:
    """worker_init_fn of data-loader processes: the main process decides when to stop."""
    for number in STOP_SIGNALS:
        signal.signal(number, signal.SIG_IGN)
