"""What `qa` prints: progress while embedding, answers, and help labels."""

from __future__ import annotations

import typer


def warn(message: str) -> None:
    """`qa: ...` on stderr: what qa says beside its output (skipped files, rebuilds, progress)."""
    typer.echo(f"qa: {message}", err=True)


PROGRESS_LINE_SECONDS = 5.0  # off a terminal (a log, CI), a progress line at most this often


def progress_bar(label: str = "Embedding"):
    """A factory for progress on stderr, `start(total, kind)` for each kind of text (passages, then
    sentences): a rich bar on a terminal, else a plain line every few seconds; both with the time left."""

    def start(total: int, kind: str = "texts"):  # rich is imported only when there is something to embed
        from rich.console import Console

        console = Console(stderr=True)
        if not console.is_terminal:
            return progress_lines(f"{label} {kind}", total)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        eta = _TimeLeft(total)
        progress = Progress(TextColumn(f"{label} {kind}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[left]}"), console=console, transient=True)
        progress.start()
        task = progress.add_task(label, total=total, left="")

        def step(n: int) -> None:
            progress.update(task, advance=n, left=eta.step(n))
            if progress.tasks[0].completed >= total:
                progress.stop()

        return step

    return start


class _TimeLeft:
    """`about 40 s left` from the first batch on, at the average pace since the start: the first batches
    vary in size (texts go longest first) and the passages' first includes loading the model, so a pace
    over the last batch alone jumps about; the average errs long at first, then settles."""

    def __init__(self, total: int, clock=None) -> None:
        import time

        self._clock = clock or time.monotonic
        self.total, self.done, self._started = total, 0, self._clock()

    def step(self, n: int) -> str:
        self.done += n
        if self.done >= self.total:
            return ""
        pace = self.done / max(self._clock() - self._started, 1e-6)
        seconds = round((self.total - self.done) / max(pace, 1e-6))
        return f"about {seconds // 60} min {seconds % 60} s left" if seconds >= 60 else f"about {seconds} s left"


def progress_lines(label: str, total: int, every: float = PROGRESS_LINE_SECONDS, clock=None):
    """`qa: Embedding passages: 1,024/8,192 (12%), about 40 s left` on stderr at most every `every`
    seconds, and at the end when a line was shown before (a build of a few seconds stays quiet)."""
    import time

    clock = clock or time.monotonic
    eta = _TimeLeft(total, clock)
    last, shown = clock(), False

    def step(n: int) -> None:
        nonlocal last, shown
        left = eta.step(n)
        now = clock()
        if now - last >= every or (shown and eta.done >= total):
            last, shown = now, True
            warn(f"{label}: {eta.done:,}/{total:,} ({100 * eta.done // max(total, 1)}%)" + (f", {left}" if left else ""))

    return step


BEST_OPEN, BEST_CLOSE = "»", "«"  # around the best sentence when the answer is not printed to a terminal
NOT_IN_CORPUS = "Not in the corpus: no passage answers this question. The closest passages:"


def print_answer(answer, console=None) -> None:
    """The human-readable answer: a citation line per passage, then its text wrapped and indented,
    with the sentence that best answers the question in bold on a terminal, between » and « otherwise."""
    from rich.console import Console
    from rich.text import Text

    from .ingest.passages import cite
    from .serve.terminal import printable, styled_passage

    console = console or Console(highlight=False, width=min(Console().width, 100))
    if not answer.answerable:
        console.print(Text(NOT_IN_CORPUS, style="bold red"), soft_wrap=True)
    for n, hit in enumerate(answer.passages, 1):
        if n > 1:
            console.print()
        # names and text come from the documents: escaped, so none can drive the terminal or forge a line
        citation = printable(cite(hit.doc, hit.section, hit.start, hit.end, hit.page))
        console.print(Text(f"[{n}] {citation} {hit.score:.3f}", style="bold cyan"), soft_wrap=True)
        if console.is_terminal or not hit.highlight:
            body = styled_passage(hit, "bold yellow")
        else:  # piped or redirected: no bold to show, so the best sentence is marked in the text
            a, b = hit.highlight.start - hit.start, hit.highlight.end - hit.start
            body = Text("".join((printable(hit.text[:a], lines=True), BEST_OPEN, printable(hit.text[a:b], lines=True),
                                 BEST_CLOSE, printable(hit.text[b:], lines=True))))
        for line in body.wrap(console, max(console.width - 4, 20)):
            line.rstrip()
            console.print(Text("    ") + line, soft_wrap=True)


class PlainArgument(typer.core.TyperArgument):
    """An argument shown as click shows one (QUESTION, [PATHS]...), not as typer 0.29 does ({question},
    paths... <list[Path]>): type labels read as code to someone who only wants to ask a question."""

    def _label(self) -> str:
        label = self.name.upper() if self.required else f"[{self.name.upper()}]"
        return label + ("..." if self.nargs != 1 else "")

    def _rich_display_name(self) -> str:
        return self._label()

    def get_usage_pieces(self, ctx) -> list[str]:
        return [self._label()]

    def display_type_rich(self, ctx) -> None:
        return None


class PlainCommand(typer.core.TyperCommand):
    """A command whose help names values (--index-dir INDEX_DIR) instead of typing them (<path>)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                param.__class__ = PlainArgument  # typer makes its parameters itself: no hook to pass a class
            elif param.metavar is None and not param.is_flag:
                param.metavar = param.name.upper()


