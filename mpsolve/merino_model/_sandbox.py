"""Bounds on the code-like parts of lm-eval task files: Jinja templates and regular expressions.

:class:`BoundedSandbox` is Jinja's sandbox with bounds on what one render of a template builds and does (and on the
template: at most :data:`SOURCE_LIMIT` characters, as compiling takes some 1 s per 64 KiB): no value
or rendered text of more than :data:`TEXT_LIMIT` characters, at most :data:`BUILT_LIMIT` characters built and read
(compared included) in all, at most :data:`STEP_LIMIT` loop iterations, calls, filters, tests and comparisons, at
most :data:`ITEM_LIMIT` items of lists and dicts sized or written, no integer of more than :data:`INT_DIGITS` digits.

Jinja's own sandbox refuses access to Python internals, not work: ``{{ q * 2000000000 }}`` built 2 GB and nested
loops over ``range(100000)`` ran for hours. Values that one C call would make huge (``*``, ``**``, ``%``, ``+``,
``~``, ``str.format``, width-taking filters and methods) are refused from an estimate made before the call;
other results are measured after it.

:data:`TIMED_RE` stands in for the ``re`` module where lm-eval applies a task file's patterns (the ``regex`` filters,
``exact_match``'s ``regexes_to_ignore``, the ``regex_replace`` template filter): it matches with the ``regex``
package, which stops a search after :data:`REGEX_SECONDS` (``re`` cannot be stopped: ``(x+x+)+y`` on a long run of
``x`` backtracks for ever), and reads a replacement as ``re`` does.
"""

from __future__ import annotations

import functools
import operator
import re
import string
import types
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

from jinja2 import Undefined, nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.environment import Template
from jinja2.runtime import LoopContext, str_join
from jinja2.sandbox import SandboxedEnvironment
from jinja2.utils import Namespace

from mpsolve.utils.errors import first_line, shown

__all__ = ["BUILT_LIMIT", "INT_DIGITS", "ITEM_LIMIT", "REGEX_SECONDS", "SOURCE_LIMIT", "STEP_LIMIT", "TEXT_LIMIT",
           "TIMED_RE", "BoundedSandbox", "PatternError", "TemplateLimitError"]

#: characters of a template (64 KiB): lm-eval's own tasks have at most 8.3 KiB (turkishmmlu's chain-of-thought
#: descriptions), compiling one of 64 KiB took 0.5-0.9 s, one of 200 KB 2-4 s (and lm-eval compiles it per document)
SOURCE_LIMIT = 1 << 16
#: compiled templates kept for reuse: lm-eval compiles a task's templates again for each document
_TEMPLATES_KEPT = 64
#: characters of one value a template builds, and of its rendered text (1 MiB)
TEXT_LIMIT = 1 << 20
#: characters all the values one render builds or hands to filters and calls may sum to (64 MiB)
BUILT_LIMIT = 1 << 26
#: loop iterations, calls, filters, tests, operators and comparisons of one render
STEP_LIMIT = 100_000
#: items (of lists, dicts, ...) one render may size (:func:`text_size`) or write (a literal, each time it is built):
#: 1-2 s of sizing (2^20 items took 1.0 s as 0s, 1.7 s as one-item lists), where sizing 64 MiB of lists of 0s took 17 s
ITEM_LIMIT = 1 << 20
#: decimal digits of an integer a template computes with: Python prints none longer, and dividing two of a million
#: digits took seconds
INT_DIGITS = 4300
#: a printf-style conversion, its width and precision (a number or ``*``) as groups
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")
#: filters whose argument is a width or a count of items: output grows with it
_SIZE_ARGS = {"center": "width", "indent": "width", "batch": "linecount", "slice": "slices", "truncate": "length",
              "wordwrap": "width"}
#: Jinja's comparison operators (a template's ``==``, ``in`` ...) by their names in its syntax tree
_COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "gteq": operator.ge, "lt": operator.lt,
    "lteq": operator.le, "in": lambda a, b: a in b, "notin": lambda a, b: a not in b}
#: ``str`` methods whose first argument is a width of their result
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


class TemplateLimitError(Exception):
    """A template went past a bound of :class:`BoundedSandbox`; ``source`` is the template's text."""

    def __init__(self, message: str, source: str = "") -> None:
        super().__init__(message)
        self.source = source


def text_size(value: Any, limit: int = TEXT_LIMIT) -> int:
    """About the characters ``str(value)`` has, nested items included (at least one each) each time they are held (a
    list held twice prints twice; one holding itself counts past any limit); counted up to just past ``limit``, so
    the count costs at most that much work. Within a render each item counted is one of its :data:`ITEM_LIMIT`."""
    env = _RENDERING.get()
    cap = env.items if env is not None else float("inf")
    stack, size, count = [value], 0, 0
    while stack and size <= limit and count <= cap:
        count += 1
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            size += len(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            size += item.bit_length() * 30103 // 100000 + 1  # decimal digits
        elif isinstance(item, Undefined):  # a missing field (`|default` takes it): a strict one refuses len()
            size += 8
        elif isinstance(item, (Mapping, Collection, Namespace)):
            if isinstance(item, Namespace):
                item = object.__getattribute__(item, "_Namespace__attrs")
            size += 2 + 2 * len(item)
            if size <= limit:
                stack.extend(_items(item, limit))
        else:
            size += 8  # a number, None, a macro, a loop: printed short
    if env is not None:
        env.take_items(count)
    return size


def _literal_items(value: Any) -> int:
    """The items of a constant a template writes (a list, tuple or dict: nested ones included; else none)."""
    stack, count = [value], 0
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, set, frozenset, dict)):
            count += len(item)
            stack.extend([*item, *item.values()] if isinstance(item, dict) else item)
    return count


def _items(value: Collection[Any], limit: int) -> Iterator[Any]:
    """The items of a collection (keys and values of a mapping), at most ``limit`` of them."""
    count = 0
    for item in value:
        yield item
        if isinstance(value, Mapping):
            yield value[item]
        count += 1
        if count > limit:
            return


def _ints(values: Iterable[Any]) -> list[int]:
    """The integers (not bools) among ``values``."""
    return [v for v in values if isinstance(v, int) and not isinstance(v, bool)]


def _percent_size(fmt: str, right: Any) -> int:
    """An upper estimate of ``fmt % right``: each conversion may print all of ``right`` and its width."""
    specs = _PERCENT_SPEC.findall(fmt)
    widths = [int(n) for spec in specs for n in spec if n.isdigit()]
    stars = sum(n == "*" for spec in specs for n in spec)
    values = right if isinstance(right, tuple) else (right,)
    return len(fmt) + len(specs) * text_size(right) + sum(widths) + stars * max(_ints(values), default=0)


def _format_size(fmt: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """An upper estimate of ``fmt.format(*args, **kwargs)``, as :func:`_percent_size`."""
    try:
        fields = [spec or "" for _, name, spec, _ in string.Formatter().parse(fmt) if name is not None]
    except ValueError:  # a malformed format: str.format says so itself
        return len(fmt)
    widths = [int(n) for spec in fields for n in re.findall(r"\d+", spec)]
    nested = sum(spec.count("{") for spec in fields)
    values = (*args, *kwargs.values())
    return (len(fmt) + len(fields) * text_size(values) + sum(widths)
            + nested * max(_ints(values), default=0))


def _binop_size(operator: str, left: Any, right: Any) -> int:
    """An upper estimate of the characters of ``left <operator> right``, before it is computed."""
    numbers = _ints((left, right))
    if operator == "**":
        return text_size(left) * right if len(numbers) == 2 and right > 0 and abs(left) > 1 else 0
    if operator == "%":
        return _percent_size(left, right) if isinstance(left, str) else 0
    if operator == "*" and len(numbers) == 1:  # a sequence repeated
        count, sequence = (left, right) if numbers[0] is left else (right, left)
        return text_size(sequence) * max(count, 0) if isinstance(sequence, (str, list, tuple)) else 0
    return text_size(left) + text_size(right) if operator in "*+" else 0


def _int_digits(operator: str, left: int, right: int) -> int:
    """An upper estimate of the decimal digits of ``left <operator> right`` (two ints) and of its operands."""
    digits = max(text_size(left), text_size(right))
    if operator == "**":
        return text_size(left) * right if right > 0 and abs(left) > 1 else digits
    return digits + (text_size(left) + text_size(right) if operator == "*" else 1)


def _method_size(method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """An upper estimate of the result of a method of ``str`` whose result may outgrow its arguments."""
    text, name, values = method.__self__, method.__name__, (*args, *kwargs.values())
    if name in _WIDTH_METHODS:
        return len(text) + max(_ints(values[:1]), default=0)
    if name == "expandtabs":
        return len(text) * max(_ints(values[:1]) or [8])
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str):
        return _replace_size(text, args[0], args[1])
    if name == "join" and args:
        return _join_size(text, args[0])
    if name == "translate" and args and isinstance(args[0], Mapping):
        return len(text) * max([text_size(v) for v in args[0].values()] or [1])
    return 0


def _replace_size(text: str, old: str, new: Any) -> int:
    """An upper estimate of ``text.replace(old, new)``."""
    return len(text) + (text.count(old) if old else len(text) + 1) * text_size(new)


def _join_size(separator: Any, items: Any) -> int:
    """An upper estimate of ``separator.join(items)``: the items printed, a separator between each two."""
    count = len(items) if isinstance(items, Collection) else 1
    return text_size(items) + count * text_size(separator)


def _filter_size(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """An upper estimate of the result of filter ``name`` on ``args[0]`` beyond the sizes of its arguments."""
    value, rest = (args[0] if args else ""), args[1:]
    if name in _SIZE_ARGS:
        size = _ints((*rest[:1], kwargs.get(_SIZE_ARGS[name])))
        width = max(size, default=0) if size else text_size(rest[0] if rest else kwargs.get("width", ""))
        lines = str(value).count("\n") + 1 if name == "indent" and isinstance(value, str) else 1
        return lines * width
    if name == "format" and isinstance(value, str):
        return _percent_size(value, kwargs or rest)
    if name == "replace" and isinstance(value, str) and len(rest) >= 2 and isinstance(rest[0], str):
        return _replace_size(value, rest[0], rest[1])
    if name == "join":
        return _join_size(rest[0] if rest else kwargs.get("d", ""), value)
    return 0


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with ``~``, comparisons, dict keys and slices sized and the items of literals counted
    (through the environment)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    @optimizeconst
    def visit_Compare(self, node: nodes.Compare, frame: Frame) -> None:
        self.write("environment.compared(")
        self.visit(node.expr, frame)
        for at, operand in enumerate(node.ops):
            self.write(f", {operand.op!r}, {'lambda: ' if at else ''}")  # a chain's later operands: only if needed
            self.visit(operand.expr, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write(f"environment.literal({len(node.items)}, {{")
        for item in node.items:
            self.write("environment.keyed(")
            self.visit(item.key, frame)
            self.write("): ")
            self.visit(item.value, frame)
            self.write(", ")
        self.write("})")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):  # through environment.getitem
            super().visit_Getitem(node, frame)
            return
        self.write("environment.sliced(")  # Jinja's: value[start:stop:step], unbounded
        self.visit(node.node, frame)
        self.write(", slice(")
        for part in (node.arg.start, node.arg.stop, node.arg.step):
            if part is None:
                self.write("None")
            else:
                self.visit(part, frame)
            self.write(", ")
        self.write("))")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write(f"environment.literal({len(node.items)}, ")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # a target: `for a, b in ...`
            super().visit_Tuple(node, frame)
            return
        self.write(f"environment.literal({len(node.items)}, ")
        super().visit_Tuple(node, frame)
        self.write(")")

    def visit_Const(self, node: nodes.Const, frame: Frame) -> None:
        count = _literal_items(node.as_const(frame.eval_ctx))  # a literal of constants: folded into one
        self.write(f"environment.literal({count}, " if count else "")
        super().visit_Const(node, frame)
        self.write(")" if count else "")


class _BoundedTemplate(Template):
    """A template whose every render starts a fresh budget, and whose bounds are one :class:`TemplateLimitError`."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        env: BoundedSandbox = self.environment  # type: ignore[assignment]
        env.steps, env.built, env.items = STEP_LIMIT, BUILT_LIMIT, ITEM_LIMIT
        source = getattr(self, "bounded_source", "")
        rendering = _RENDERING.set(env)
        try:
            return super().render(*args, **kwargs)
        except TemplateLimitError as exc:
            raise TemplateLimitError(str(exc), source) from None
        except RecursionError:
            raise TemplateLimitError("nests macro calls or recursive loops too deeply", source) from None
        finally:
            _RENDERING.reset(rendering)


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's :class:`SandboxedEnvironment` that also bounds the size of what one render builds and the work it
    does (see the module); a render past a bound raises :class:`TemplateLimitError`."""

    code_generator_class = _BoundedCodeGenerator
    template_class = _BoundedTemplate
    intercepted_binops = frozenset({"*", "**", "%", "+", "-", "/", "//"})

    def __init__(self, *args: Any, filters: Mapping[str, Callable[..., Any]] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, finalize=self._finalize, **kwargs)
        self.steps, self.built, self.items = STEP_LIMIT, BUILT_LIMIT, ITEM_LIMIT
        del self.globals["lipsum"]  # lorem ipsum of any length: no prompt needs it
        self.filters.update(filters or {})
        self.filters = {name: self._bounded(name, f) for name, f in self.filters.items()}
        self.tests = {name: self._bounded("", t) for name, t in self.tests.items()}
        self.filters["_counted"] = self._counted
        self._kept = functools.lru_cache(maxsize=_TEMPLATES_KEPT)(self._compiled)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        if len(source) > SOURCE_LIMIT:
            raise TemplateLimitError(f"is {len(source)} characters long, more than {SOURCE_LIMIT >> 10} KiB", source)
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):  # each iteration a step
            loop.iter = nodes.Filter(loop.iter, "_counted", [], [], None, None, lineno=loop.lineno)
        return tree

    def from_string(self, source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, str) and not args and not kwargs:  # lm-eval's call, for each document
            return self._kept(source)
        return self._compiled(source, *args, **kwargs)

    def _compiled(self, source: Any, *args: Any, **kwargs: Any) -> Any:
        """Jinja's ``from_string``, its nesting bounded."""
        text = source if isinstance(source, str) else ""
        try:
            template = super().from_string(source, *args, **kwargs)
        except (RecursionError, SyntaxError):  # Jinja's parser, or Python on its code: "too many nested parentheses"
            raise TemplateLimitError("nests expressions or blocks too deeply to compile", text) from None
        template.bounded_source = text
        return template

    def _step(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise TemplateLimitError(f"takes more than {STEP_LIMIT} loop iterations, calls, filters, tests and "
                                     "comparisons")

    def _build(self, size: int) -> None:
        """Account for a value of ``size`` characters about to be built (or read by a filter or call)."""
        if size > TEXT_LIMIT:
            raise TemplateLimitError(f"builds a value of more than {TEXT_LIMIT >> 20} MiB of text")
        self.built -= size
        if self.built < 0:
            raise TemplateLimitError(f"builds more than {BUILT_LIMIT >> 20} MiB of text in all")

    def take_items(self, count: int) -> None:
        """Account for ``count`` items of lists and dicts sized or written."""
        self.items -= count
        if self.items < 0:
            raise TemplateLimitError(f"sizes or writes more than {ITEM_LIMIT} items of lists and dicts in all")

    def _counted(self, values: Iterable[Any]) -> Iterator[Any]:
        """``values``, each one a step."""
        for value in values:
            self._step()
            yield value

    def _finished(self, result: Any) -> Any:
        """The result of a filter or call: an iterator counted item by item, anything else sized."""
        if isinstance(result, Iterator):
            return self._counted(result)
        self._build(text_size(result))  # what no estimate foresaw (escaping, JSON): refused once built
        return result

    def _bounded(self, name: str, f: Callable[..., Any]) -> Callable[..., Any]:
        """Filter ``name`` (a test: ``""``), each call a step that reads its arguments."""
        skip = 1 if getattr(f, "jinja_pass_arg", None) else 0  # a context or environment comes first

        @functools.wraps(f)
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self._step()
            values = args[skip:]
            self._build(text_size((values, kwargs)) + _filter_size(name, values, kwargs))
            return self._finished(f(*args, **kwargs))

        return bounded

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self._step()
        if len(_ints((left, right))) == 2 and _int_digits(operator, left, right) > INT_DIGITS:
            raise TemplateLimitError(f"computes with an integer of more than {INT_DIGITS} digits")
        self._build(_binop_size(operator, left, right))
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 (as Jinja's)
        __self._step()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's next level
            args = (__self._counted(args[0]), *args[1:])
        extra = _method_size(__obj, args, kwargs) if isinstance(getattr(__obj, "__self__", None), str) else 0
        __self._build(text_size((getattr(__obj, "__self__", None), args, kwargs)) + extra)
        return __self._finished(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None

        def bounded(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format_map" and len(args) == 1 and isinstance(args[0], Mapping):
                self._build(_format_size(value.__self__, (), dict(args[0])))
            else:
                self._build(_format_size(value.__self__, args, kwargs))
            return wrapper(*args, **kwargs)

        return bounded

    def sliced(self, value: Any, part: slice) -> Any:
        """``value[part]``, a copy: a step that builds its items."""
        self._step()
        result = value[part]
        self._build(text_size(result))
        return result

    def compared(self, left: Any, *ops: Any) -> Any:
        """``left <op> right <op> ...`` (operator names and operands, a chain's later operands as functions), each
        comparison a step that reads its operands; as Python, the first false one ends a chain."""
        result: Any = True
        for at in range(0, len(ops), 2):
            right = ops[at + 1]() if at else ops[at + 1]
            self._step()
            self._build(text_size(left))
            self._build(text_size(right))
            result = _COMPARISONS[ops[at]](left, right)
            if not result:
                return result
            left = right
        return result

    def literal(self, count: int, value: Any) -> Any:
        """``value``, a list, tuple or dict the template wrote of ``count`` items, counted each time it is built."""
        self.take_items(count)
        return value

    def keyed(self, key: Any) -> Any:
        """A key of a dict the template writes, sized first: hashing a tuple reads all of it."""
        self._build(text_size(key))
        return key

    def joined(self, values: tuple[Any, ...]) -> str:
        """``~``: the values printed and joined, sized first."""
        self._step()
        self._build(text_size(values))
        return str_join(values)

    def _finalize(self, value: Any) -> Any:
        """A value printed by ``{{ }}``, sized first (a ``str`` is already built)."""
        self._step()
        if not isinstance(value, str):
            self._build(text_size(value))
        return value

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """A rendered text (or a macro's, a block's) of at most :data:`TEXT_LIMIT` characters."""
        out, size = [], 0
        for part in parts:
            size += len(part)
            if size > TEXT_LIMIT:
                raise TemplateLimitError(f"renders more than {TEXT_LIMIT >> 20} MiB of text")
            out.append(part)
        return "".join(out)


#: the environment whose template renders now (its items counted by :func:`text_size`); none outside a render
_RENDERING: ContextVar[BoundedSandbox | None] = ContextVar("_RENDERING", default=None)


#: seconds one search of a task file's regular expression may take
REGEX_SECONDS = 1.0
#: items a pattern's minimum repeat counts may unroll to beyond its own length: the ``regex`` package unrolls them
#: when it compiles (some 280 bytes each: ``a{1000000000}`` took all memory), ``re`` does not; with
#: :data:`_PATTERNS_KEPT`, at most some 200 MB of compiled patterns besides their text (a long literal, such as
#: lm-eval's multiple-choice fallback of a document's escaped choices, unrolls to no more than its length)
_UNROLLED_LIMIT = 10_000
#: compiled patterns kept for reuse (the ``regex`` package's own cache, of 500, is not used)
_PATTERNS_KEPT = 64
#: the functions of ``re`` that search, with the number of positional arguments each takes before ``flags``
_SEARCHES = {"sub": 3, "subn": 3, "split": 2, "findall": 1, "finditer": 1, "search": 1, "match": 1, "fullmatch": 1}


class PatternError(Exception):
    """A task file's regular expression that cannot be used (invalid, too large, too slow); ``pattern`` is it,
    ``way_out`` what to do."""

    def __init__(self, message: str, pattern: Any, way_out: str = "give a simpler pattern") -> None:
        super().__init__(message)
        self.pattern, self.way_out = pattern, way_out


def _sre() -> tuple[Any, Any]:
    """``re``'s pattern parser and its opcodes (private: no public API parses a pattern)."""
    try:
        from re import _constants, _parser
    except ImportError:  # Python 3.10
        import sre_constants as _constants
        import sre_parse as _parser
    return _parser, _constants


def _unrolled(items: Any) -> int:
    """About the items ``regex`` compiles a parsed pattern (``re``'s parser) to: minimum repeat counts multiply."""
    c = _sre()[1]
    size = 0
    for op, av in items:
        if op in (c.MAX_REPEAT, c.MIN_REPEAT, getattr(c, "POSSESSIVE_REPEAT", None)):
            size += max(av[0], 1) * _unrolled(av[2])
        elif op is c.BRANCH:
            size += sum(_unrolled(branch) for branch in av[1])
        elif op is c.SUBPATTERN:
            size += _unrolled(av[3])
        elif op in (c.ASSERT, c.ASSERT_NOT):
            size += _unrolled(av[1])
        elif op is getattr(c, "ATOMIC_GROUP", None):
            size += _unrolled(av)
        elif op is c.GROUPREF_EXISTS:
            size += _unrolled(av[1]) + (_unrolled(av[2]) if av[2] else 0)
        else:
            size += 1
    return size


class _TimedPattern:
    """A pattern compiled by the ``regex`` package whose searches stop after :data:`REGEX_SECONDS`."""

    def __init__(self, pattern: Any, flags: int = 0) -> None:
        import regex

        self.pattern = pattern
        try:  # re's own checks first: the pattern must mean what lm-eval's re would make of it
            with warnings.catch_warnings(record=True) as said:
                warnings.simplefilter("always")
                parsed = _sre()[0].parse(pattern, flags)
        except (re.error, TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise PatternError(f"is not a regular expression Python reads ({str(exc)[:100]})", pattern) from None
        for warning in said:
            at = re.fullmatch(r"Possible nested set at position (\d+)", str(warning.message))
            if at and pattern[int(at[1]):int(at[1]) + 2] in ("[:", b"[:"):
                raise PatternError("holds '[:' in a set, a POSIX class for the regex package and characters for re: "
                                   "escape the '[' (\\[)", pattern)
            warnings.warn(warning.message, warning.category, stacklevel=2)
        if _unrolled(parsed) > _UNROLLED_LIMIT + len(pattern):
            raise PatternError(f"repeats more than {_UNROLLED_LIMIT} items at least (its {{n}} counts multiplied)",
                               pattern)
        # re's ASCII and DEBUG bits are regex's VERSION1 and ASCII: each passed as the regex package numbers it
        as_regex = (flags & ~(re.ASCII | re.DEBUG) | (regex.ASCII if flags & re.ASCII else 0)
                    | (regex.DEBUG if flags & re.DEBUG else 0))
        try:
            self._compiled = regex.compile(pattern, as_regex, cache_pattern=False)
        except regex.error as exc:
            raise PatternError(f"is not a regular expression the regex package reads ({str(exc)[:100]})",
                               pattern) from None

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._compiled, name)
        if name not in _SEARCHES:
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            if name in ("sub", "subn") and args:
                args = (self._replacement(args[0]), *args[1:])
            elif name in ("sub", "subn") and "repl" in kwargs:
                kwargs = {**kwargs, "repl": self._replacement(kwargs["repl"])}
            try:
                return method(*args, timeout=REGEX_SECONDS, **kwargs)
            except TimeoutError:
                raise PatternError(f"searched a text for more than {REGEX_SECONDS:g} s", self.pattern) from None

        return timed

    def _replacement(self, repl: Any) -> Any:
        """``repl`` of ``sub`` as ``re`` reads it, written out for the regex package (which reads more escapes, such as
        ``\\x41``, and fewer group names): its literals with backslashes doubled, its groups as ``\\g<n>``."""
        way_out = "write the replacement as re.sub reads it (a group as \\1 or \\g<name>, a backslash as \\\\)"
        if callable(repl):  # a function of the match
            return repl
        if not isinstance(repl, (str, bytes)):  # the regex package's AttributeError: a traceback
            raise PatternError(f"has a replacement {shown(repl, 100)} that is not text but {type(repl).__name__}",
                               self.pattern, way_out)
        if ("\\" if isinstance(repl, str) else b"\\") not in repl:  # a literal: alike for both
            return repl
        try:
            parsed = _sre()[0].parse_template(repl, self._compiled)
        except (re.error, IndexError) as exc:  # IndexError: a group name the pattern lacks
            raise PatternError(f"has a replacement {shown(repl, 100)} that Python's re does not read "
                               f"({first_line(exc, 100)})", self.pattern, way_out) from None
        if isinstance(parsed, tuple):  # Python < 3.12: the groups' slots in a list of literals
            groups, parsed = parsed[0], list(parsed[1])
            for at, group in groups:
                parsed[at] = group
        written = "".join(f"\\g<{part}>" if isinstance(part, int)
                          else (part if isinstance(part, str) else part.decode("latin-1")).replace("\\", "\\\\")
                          for part in parsed)
        return written if isinstance(repl, str) else written.encode("latin-1")


def _timed_function(name: str) -> Callable[..., Any]:
    """``re.<name>`` (its signature) through a :class:`_TimedPattern`."""
    positional = _SEARCHES[name]

    def search(pattern: Any, *args: Any, flags: int = 0, **kwargs: Any) -> Any:
        if len(args) > positional:
            args, flags = args[:positional], args[positional]
        compiled = pattern if isinstance(pattern, _TimedPattern) else _timed_compile(pattern, flags)
        return getattr(compiled, name)(*args, **kwargs)

    return search


@functools.lru_cache(maxsize=_PATTERNS_KEPT)
def _timed_compile(pattern: Any, flags: int = 0) -> _TimedPattern:
    return _TimedPattern(pattern, flags)


#: the ``re`` module with every search timed (:class:`_TimedPattern`); the rest (``escape``, flags) is ``re``'s
TIMED_RE = types.SimpleNamespace(**{**vars(re), "compile": _timed_compile,
                                    **{name: _timed_function(name) for name in _SEARCHES}})
