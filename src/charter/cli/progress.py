"""Rich progress bars, on stderr, for artifact uploads and downloads counted in bytes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from charter.cli.output import err_console

Advance = Callable[[int], None]


@contextmanager
def transfer(description: str, total_bytes: int) -> Iterator[Advance]:
    """Yield a callback taking a byte count; the bar lives on stderr so stdout stays clean
    for --json."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )
    with bar:
        task = bar.add_task(description, total=total_bytes)

        def advance(count: int) -> None:
            bar.advance(task, count)

        yield advance
        # A zero-byte artifact or one the server already held still ends at 100%.
        bar.update(task, completed=total_bytes)
