"""The parser the CLI reference is generated from: ``speechvae.cli.build_parser()`` itself, with the help texts'
``*`` (as in ``*.wav``) escaped, since sphinx-argparse reads help as reStructuredText."""
import argparse

from speechvae.cli import build_parser


def _escape(text):
    return text.replace("*", r"\*") if isinstance(text, str) else text


def parser() -> argparse.ArgumentParser:
    p = build_parser()
    todo = [p]
    while todo:
        q = todo.pop()
        q.description = _escape(q.description)
        for a in q._actions:
            a.help = _escape(a.help)
            if isinstance(a, argparse._SubParsersAction):
                todo.extend(a.choices.values())
                for c in a._choices_actions:
                    c.help = _escape(c.help)
    return p
