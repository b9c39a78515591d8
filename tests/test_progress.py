"""Progress off a terminal: a plain line at once, at most every interval, and at the end; a reporter for library loops."""

from __future__ import annotations

import io

from face_identity.progress import Progress, ProgressReporter


def test_plain_lines_start_at_once_and_end_with_the_total() -> None:
    stream = io.StringIO()
    with Progress(5, "analyzed", stream=stream, interval=3600) as progress:
        assert stream.getvalue().startswith("analyzed 0/5 images")  # before any item is done
        for _ in range(5):
            progress.update()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[-1].startswith("analyzed 5/5 images")  # nothing in between within the interval


def test_every_update_prints_with_no_interval_and_nothing_when_disabled() -> None:
    stream = io.StringIO()
    progress = Progress(3, "scored", stream=stream, interval=0)
    for _ in range(3):
        progress.update()
    assert len(stream.getvalue().splitlines()) == 4
    silent = io.StringIO()
    Progress(3, stream=silent, enabled=False).update(3)
    Progress(0, stream=silent).update(0)
    assert silent.getvalue() == ""


def test_reporter_opens_a_progress_of_the_total_it_is_first_given(capsys: object) -> None:
    reporter = ProgressReporter("embedded")
    for done in range(4):
        reporter(done, 3)
    reporter.close()
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    assert err.splitlines()[0].startswith("embedded 0/3 images") and "embedded 3/3 images" in err
