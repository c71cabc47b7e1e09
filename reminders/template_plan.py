"""A reminder template turned into a plan of Python functions, rendering the same text as Django's
template engine in a third of its time (SPEC §9: statements on the wire).

Django renders a template by walking its nodes, and every variable goes through the general path:
the node's error annotation, the variable's lookup (a dictionary, an attribute, a list index, a call),
localization and escaping. A reminder's variables are nearly all dictionary keys holding text or a
whole number, and a statement lists dozens of them, in text and in HTML. ``plan`` compiles a parsed
template once into functions that take the short way where it gives Django's text exactly:

- text is kept as it is;
- a variable without filters that names dictionary keys, from the context down, and ends on text
  (escaped when the context escapes, as ``conditional_escape`` does) or on a whole number (its digits,
  when numbers are not grouped in thousands: what ``localize`` then writes);
- ``{% if %}`` and ``{% for %}`` as Django evaluates them, with their bodies planned too.

Everything else (a filter's result, another type, a lookup that is not a dictionary key, any other
tag) goes through Django's own code for that node. If rendering fails, the template is rendered again by
Django, which raises its own error with its own line information.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from html import escape
from typing import Any, cast

from django.conf import settings
from django.template import Context, Template
from django.template.base import (
    FilterExpression,
    Node,
    NodeList,
    TextNode,
    Variable,
    VariableDoesNotExist,
    VariableNode,
    render_value_in_context,
)
from django.template.defaulttags import ForNode, IfNode, TemplateLiteral
from django.utils.safestring import SafeString

Part = Callable[[Context], str]
Plan = Callable[[Context], str]


def plan(template: Template) -> Plan:
    """What renders ``template`` into a context: Django's text, faster."""
    body = _nodelist(template.nodelist)

    def render(context: Context) -> str:
        try:
            with context.render_context.push_state(template), context.bind_template(template):
                context.template_name = template.name
                return body(context)
        except Exception:
            # Django's own rendering raises the error with the line it happened on.
            return str(template.render(Context(_flattened(context), autoescape=context.autoescape)))

    return render


def _flattened(context: Context) -> dict[str, Any]:
    """The values a context was made with (a failed rendering may have left some of its own pushed)."""
    return dict(context.dicts[1]) if len(context.dicts) > 1 else {}


def _nodelist(nodes: Iterable[Node]) -> Part:
    parts: list[str | Part] = []
    for node in nodes:
        part = _node(node)
        if isinstance(part, str) and parts and isinstance(parts[-1], str):
            parts[-1] += part
        else:
            parts.append(part)
    if not parts:
        return lambda context: ""
    if len(parts) == 1:
        only = parts[0]
        return (lambda context: only) if isinstance(only, str) else only
    steps = tuple(parts)

    def render(context: Context) -> str:
        return "".join([step if step.__class__ is str else step(context) for step in steps])  # type: ignore[operator]

    return render


def _node(node: Node) -> str | Part:
    if type(node) is TextNode:
        return str(node.s)
    if type(node) is VariableNode:
        return _variable(node)
    if type(node) is IfNode:
        return _if(node)
    if type(node) is ForNode:
        return _for(node)
    return _django(node)


def _django(node: Node) -> Part:
    """The node rendered by Django itself."""

    def render(context: Context) -> str:
        return str(node.render_annotated(context))

    return render


# What a short-way lookup returns when it cannot tell: Django's own resolution is asked instead.
_ASK_DJANGO = object()


def _lookup(expression: Any) -> Callable[[Context], Any] | None:
    """A variable without filters (``customer.name``) looked up by dictionary keys only, from the
    context down, when its value is neither missing nor callable; ``_ASK_DJANGO`` otherwise (Django
    then resolves it as it would: attributes, list indexes, calls, what is invalid). None for anything
    else than such a variable."""
    if not isinstance(expression, FilterExpression) or expression.filters:
        return None
    var = expression.var
    if not isinstance(var, Variable) or var.lookups is None or var.translate:
        return None
    first, *rest = var.lookups

    def look_up(context: Context) -> Any:
        for values in reversed(context.dicts):
            if first in values:
                value = values[first]
                break
        else:
            return _ASK_DJANGO
        for key in rest:
            if value.__class__ is not dict or key not in value:
                return _ASK_DJANGO
            value = value[key]
        return _ASK_DJANGO if callable(value) else value

    return look_up


def _variable(node: VariableNode) -> Part:
    look_up = _lookup(node.filter_expression)
    if look_up is None:
        return _filtered(node)
    django = _django(node)

    def render(context: Context) -> str:
        value = look_up(context)
        if value.__class__ in _PLAIN:
            return _written(value, context)
        return django(context)  # missing, called, a date localized: Django's way

    return render


# What a lookup may end on to be written the short way (neither callable nor localized but for digits).
_PLAIN = frozenset({str, SafeString, int})


def _filtered(node: VariableNode) -> Part:
    expression = node.filter_expression

    def render(context: Context) -> str:
        try:
            value = expression.resolve(context)
        except UnicodeDecodeError:  # as Django's variable node: an output that cannot be decoded is left out
            return ""
        return _written(value, context)

    return render


def _written(value: Any, context: Context) -> str:
    """``render_value_in_context``'s text for ``value``, taking the short way for text and whole numbers."""
    kind = value.__class__
    if kind is str:
        return escape(value) if context.autoescape else value
    if kind is SafeString:
        return value
    if kind is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)
    return str(render_value_in_context(value, context))


def _if(node: IfNode) -> Part:
    branches = [
        (_condition(condition), _nodelist(nodelist)) for condition, nodelist in node.conditions_nodelists
    ]

    def render(context: Context) -> str:
        for condition, body in branches:
            if condition is None or condition(context):  # None: else
                return body(context)
        return ""

    return render


def _condition(condition: Any) -> Callable[[Context], Any] | None:
    """Whether an ``{% if %}``'s condition holds, as Django evaluates it; a lone variable
    (``{% if invoice.payment_url %}``) looked up the short way."""
    if condition is None:
        return None

    def django(context: Context) -> Any:
        try:
            return condition.eval(context)
        except VariableDoesNotExist:
            return None

    look_up = _lookup(condition.value) if type(condition) is TemplateLiteral else None
    if look_up is None:
        return django

    def holds(context: Context) -> Any:
        value = look_up(context)
        return django(context) if value is _ASK_DJANGO else value

    return holds


def _for(node: ForNode) -> Part:
    body = _nodelist(cast(NodeList, node.nodelist_loop))
    empty = _nodelist(cast(NodeList, node.nodelist_empty))
    sequence = cast(FilterExpression, node.sequence)
    look_up = _lookup(sequence)
    names = list(node.loopvars)
    unpack = len(names) > 1

    def render(context: Context) -> str:
        parentloop = context.get("forloop", {})
        with context.push():
            values: Any = look_up(context) if look_up else _ASK_DJANGO
            if values is _ASK_DJANGO:
                values = sequence.resolve(context, ignore_failures=True)
            if values is None:
                values = []
            if not hasattr(values, "__len__"):
                values = list(values)
            count = len(values)
            if count < 1:
                return empty(context)
            if node.is_reversed:
                values = reversed(values)
            loop: dict[str, Any] = {"parentloop": parentloop}
            context["forloop"] = loop
            out = []
            for index, item in enumerate(values):
                loop["counter0"] = index
                loop["counter"] = index + 1
                loop["revcounter"] = count - index
                loop["revcounter0"] = count - index - 1
                loop["first"] = index == 0
                loop["last"] = index == count - 1
                if unpack:
                    try:
                        size = len(item)
                    except TypeError:
                        size = 1
                    if size != len(names):
                        raise ValueError(f"Need {len(names)} values to unpack in for loop; got {size}. ")
                    context.update(dict(zip(names, item, strict=True)))
                    out.append(body(context))
                    context.pop()
                else:
                    context[names[0]] = item
                    out.append(body(context))
            return "".join(out)

    return render
