"""Reference renderer for chat-template tests: Python Jinja2 configured as transformers configures it
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, raise_exception, tojson with ensure_ascii=False,
strftime_now). Reads {"template": str, "cases": [variables...]} as JSON on stdin, writes a JSON list of
{"text": str} or {"error": str}. It is golden-data tooling: the TypeScript renderer never produces its own goldens."""
import json
import sys
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return datetime.now().strftime(fmt)


def main():
    request = json.load(sys.stdin)
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(request["template"])
    out = []
    for case in request["cases"]:
        try:
            out.append({"text": template.render(**case)})
        except Exception as e:  # noqa: BLE001 - reported to the test as data
            out.append({"error": str(e)})
    json.dump(out, sys.stdout, ensure_ascii=False)


main()
