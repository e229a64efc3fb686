"""GitHub Actions expressions (``${{ }}``): lexer, parser and evaluator.

CONTRACT (placeholder until the implementation lands; signatures are fixed):

    parse(text, *, contexts=None, functions=None) -> Expr
        Parse one expression body (without ``${{ }}``). ``contexts``: the named
        values allowed (None = any); ``functions``: extra function names allowed
        besides the always-allowed built-ins (e.g. {"success", "failure",
        "always", "cancelled"} in ``if:``, {"hashFiles"} in steps).
        Raises pheme.errors.ExpressionError(kind="lexing"|"parsing").

    evaluate(expr: Expr | str, ctx: EvalContext) -> Value
    evaluate_condition(cond: str | bool | None, ctx) -> bool     # ``if:`` semantics
    render(text: str, ctx) -> str                                # interpolate every ${{ }}
    evaluate_raw(value: Raw, ctx) -> Value                       # with:/env: values, recursively
    split_template(text) -> list[str | TemplateExpr]             # find ${{ }} segments
    to_string(value) -> str; truthy(value) -> bool; kind_of(value) -> str
"""
