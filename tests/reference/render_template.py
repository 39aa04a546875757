#!/usr/bin/python3
"""Reference chat-template renderer for the templates tests.

Renders Jinja chat templates with Debian's python3-jinja2 in the environment Hugging Face
transformers uses for apply_chat_template: an immutable sandbox, trim_blocks and lstrip_blocks,
the loopcontrols extension, a `{% generation %}` tag that renders its body, a `tojson` filter that
is plain json.dumps (ensure_ascii=False, no key sorting), and the globals raise_exception and
strftime_now. strftime_now reads a fixed time given in the input so results are reproducible.

Input (stdin), one JSON document:
  {"now": "2025-03-14T09:26:53", "templates": ["...source..."],
   "cases": [{"template": 0, "context": {...}}]}
Output (stdout), one JSON document:
  {"results": [{"ok": true, "output": "..."} |
               {"ok": false, "kind": "raised" | "error", "error": "Type: message"}]}
"kind" is "raised" when the template called raise_exception, "error" for any other failure
(syntax error, undefined attribute, sandbox refusal, type error).
"""
import datetime
import json
import sys

import jinja2
import jinja2.ext
import jinja2.nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RaisedByTemplate(jinja2.exceptions.TemplateError):
    """What raise_exception throws, so it can be told apart from other template errors."""


class GenerationTag(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` renders its body unchanged (as transformers
    does when it is not collecting assistant masks)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        call = self.call_method("_render_body")
        return jinja2.nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render_body(self, caller):
        return caller()


def make_environment(now):
    def raise_exception(message):
        raise RaisedByTemplate(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[GenerationTag, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def main():
    request = json.load(sys.stdin)
    now = datetime.datetime.fromisoformat(request.get("now", "2025-03-14T09:26:53"))
    env = make_environment(now)
    compiled = {}
    results = []
    for case in request["cases"]:
        index = case["template"]
        try:
            if index not in compiled:
                try:
                    compiled[index] = env.from_string(request["templates"][index])
                except Exception as e:  # noqa: BLE001 - a syntax error fails every case alike
                    compiled[index] = e
            template = compiled[index]
            if isinstance(template, Exception):
                raise template
            results.append({"ok": True, "output": template.render(**case["context"])})
        except RaisedByTemplate as e:
            results.append({"ok": False, "kind": "raised", "error": str(e)})
        except Exception as e:  # noqa: BLE001 - every other failure is reported the same way
            results.append({"ok": False, "kind": "error", "error": f"{type(e).__name__}: {e}"})
    json.dump({"results": results}, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
