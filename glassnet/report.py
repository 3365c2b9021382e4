"""Reports made of titled sections of text lines and tables, rendered three ways: plain text
(aligned columns, no dependency), Markdown, and a terminal with colours through ``rich`` when it
is installed (the ``cli`` extra). ``glassnet.explain`` builds its trace as such a report.
"""
import sys

from .extras import require


class Table:
    """``headers`` and ``rows`` of strings; ``align`` is one letter per column, ``l`` or ``r``."""

    def __init__(self, headers, rows, align=None):
        self.headers = list(headers)
        self.rows = [list(row) for row in rows]
        self.align = align or "l" * len(self.headers)


class Section:
    """A title, then ``lines`` of text, then ``tables``."""

    def __init__(self, title, lines=(), tables=()):
        self.title, self.lines, self.tables = title, list(lines), list(tables)


def to_text(sections):
    """Plain text: a title underlined with ``=``, the lines, each table with aligned columns."""
    out = []
    for section in sections:
        out += [section.title, "=" * len(section.title), *section.lines]
        for table in section.tables:
            widths = [max(len(cell) for cell in column) for column in zip(table.headers, *table.rows)]
            out.append("")
            out.append(_text_row(table.headers, widths, table.align))
            out.append("  ".join("-" * w for w in widths))
            out += [_text_row(row, widths, table.align) for row in table.rows]
        out.append("")
    return "\n".join(out)


def _text_row(cells, widths, align):
    return "  ".join(cell.rjust(w) if a == "r" else cell.ljust(w)
                     for cell, w, a in zip(cells, widths, align)).rstrip()


def to_markdown(sections, level=2):
    """Markdown: a heading per section, the lines as paragraphs, tables with aligned columns."""
    out = []
    for section in sections:
        out += ["#" * level + " " + section.title, ""]
        if section.lines:
            out += [_escape(line) + "  " if line else "" for line in section.lines] + [""]
        for table in section.tables:
            out.append("| " + " | ".join(_escape(h) for h in table.headers) + " |")
            out.append("|" + "|".join("---:" if a == "r" else ":---" for a in table.align) + "|")
            out += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in table.rows]
            out.append("")
    return "\n".join(out)


def _escape(cell):
    return cell.replace("|", "\\|").replace("*", "\\*")


def print_report(sections, file=None, color=None, styles=None):
    """Print with rich (tables with borders, colours) when ``color`` is True, or when it is None,
    rich is installed and ``file`` is a terminal; otherwise as ``to_text``. ``styles`` maps a
    cell's text to a rich style (e.g. ``{"ok": "green"}``)."""
    file = sys.stdout if file is None else file
    if color is None:
        color = _has_rich() and file.isatty()
    if not color:
        print(to_text(sections), file=file)
        return
    console_module = require("rich.console", extra="cli", purpose="coloured output")
    table_module = require("rich.table", extra="cli", purpose="coloured output")
    console = console_module.Console(file=file, force_terminal=True, highlight=False)
    for section in sections:
        console.rule(f"[bold]{section.title}", align="left")
        for line in section.lines:
            console.print(line, markup=False)
        for table in section.tables:
            shown = table_module.Table(header_style="bold cyan")
            for header, align in zip(table.headers, table.align):
                shown.add_column(header, justify="right" if align == "r" else "left")
            for row in table.rows:
                shown.add_row(*[_styled(cell, styles) for cell in row])
            console.print(shown)


def _styled(cell, styles):
    from rich.text import Text
    return Text(cell, style=(styles or {}).get(cell, ""))


def _has_rich():
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True
