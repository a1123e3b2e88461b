"""The console's URLs under `/console`. Pages are GETs; every change is a guarded POST."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from importlib.resources import files
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from grantledger.api.wire import unknown_query
from grantledger.console import actions, guard, ledger, throttle, views
from grantledger.console.guard import Refused
from grantledger.console.render import headers, page
from grantledger.domain.errors import LedgerError
from grantledger.service.console import console as reads
from grantledger.service.console import console_sessions as sessions
from grantledger.service.context import Context, Tenant
from grantledger.store.console.console_sessions import SessionRecord as Session

log = logging.getLogger("grantledger.console")
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])
# The query parameters each page reads (`accepts`); a page not listed reads none.
_ACCEPTED: dict[Callable[..., Awaitable[Response]], tuple[str, ...]] = {}


def accepts(*names: str) -> Callable[[Endpoint], Endpoint]:
    """Declare the query parameters a page reads (put it under the route's decorator)."""

    def declare(endpoint: Endpoint) -> Endpoint:
        _ACCEPTED[endpoint] = names
        return endpoint

    return declare


class ConsoleRoute(APIRoute):
    """Console URLs refuse a query parameter their page does not read, as the API's routes do
    (`api/jsonio.KnownQueryRoute`): 400 with the console's error page naming it, nothing
    read or changed. A mistyped `?aOf=` would otherwise show today's figures as asked."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        accepted = _ACCEPTED.get(self.endpoint, ())
        where = f"{'/'.join(sorted(self.methods or ()))} {self.path}"

        async def route(request: Request) -> Response:
            problem = unknown_query(request.query_params.keys(), accepted, where)
            if problem is None:
                return await handler(request)
            session = await guard.session_of(request)
            return page("error.html", 400, message=problem, session=session)

        return route


router = APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)
_CSS = files("grantledger.console").joinpath("static/console.css").read_bytes()
MAX_KEY = 200


def _ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=headers())


def account_url(account_id: str, **query: str) -> str:
    url = f"/console/accounts/{quote(account_id, safe='')}"
    return f"{url}?{urlencode(query)}" if query else url


async def _answer(
    request: Request, work: Callable[[Session | None], Awaitable[Response]], *, signed_in: bool
) -> Response:
    """Run a handler; refusals and ledger errors become an HTML page with their status."""
    session = await guard.session_of(request)
    if session is not None:
        request.state.org_id = session.org_id  # for the access log line, as the API does
    if signed_in and session is None and request.method == "GET":
        return _see_other("/console")
    try:
        return await work(session)
    except Refused as refusal:
        return page("error.html", refusal.status, message=refusal.message, session=session)
    except LedgerError as error:
        return page("error.html", error.status, message=error.message, session=session)


def _tenant(request: Request, session: Session) -> Tenant:
    return _ctx(request).tenant(session.org_id)


def _id(value: str, what: str) -> str:
    if not 1 <= len(value) <= 50:
        raise Refused(404, f"no such {what}")
    return value


def _cursor(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value and len(value) <= 100 else None


# --- sign-in and sign-out ---------------------------------------------------------------------


@router.get("")
@router.get("/")
async def sign_in_form(request: Request) -> Response:
    if await guard.session_of(request) is not None:
        return _see_other("/console/accounts")
    token = guard.signin_token(request)
    response = page("signin.html", csrf=token, error=None, session=None)
    guard.set_cookie(request, response, guard.SIGNIN_COOKIE, token, 3600)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    async def work(_: Session | None) -> Response:
        guard.check_origin(request)
        form = await guard.read_form(request)
        guard.check_token(request.cookies.get(guard.SIGNIN_COOKIE, ""), form)
        address = request.client.host if request.client else "-"
        key = form.get("apiKey", "").strip()
        throttle.check(address, key)
        started = await sessions.sign_in(_ctx(request), key) if 0 < len(key) <= MAX_KEY else None
        if started is None:
            braked = throttle.failed(address)
            if braked is not None:
                raise braked
            token = guard.signin_token(request)
            return page(
                "signin.html", 401, csrf=token, error="That API key is not valid.", session=None
            )
        cookie, _session = started
        throttle.accepted(key)
        response = _see_other("/console/accounts")
        guard.start_session(request, response, cookie)
        guard.clear_cookie(request, response, guard.SIGNIN_COOKIE)
        return response

    return await _answer(request, work, signed_in=False)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    async def work(session: Session | None) -> Response:
        signed, _form = await guard.guarded_form(request, session)
        await sessions.sign_out(_ctx(request), signed)
        response = _see_other("/console")
        guard.clear_cookie(request, response, guard.COOKIE)
        return response

    return await _answer(request, work, signed_in=True)


@router.get("/static/console.css")
async def stylesheet() -> Response:
    return Response(_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


# --- pages ------------------------------------------------------------------------------------


@router.get("/accounts")
@accepts("q", "after")
async def accounts_page(request: Request) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        q = request.query_params.get("q", "").strip()[:100]
        found, figures = await reads.search_accounts(t, q, _cursor(request, "after"))
        return page("accounts.html", session=session, q=q, found=found, figures=figures)

    return await _answer(request, work, signed_in=True)


@router.get("/accounts/{account_id}")
@accepts("credits", "holds", "ledger", "events", "actions", "asOf", "done", "id")
async def account_page(request: Request, account_id: str) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        names = ("credits", "holds", "ledger", "events", "actions")
        cursors = {n: _cursor(request, n) for n in names}
        view = await views.account_page(t, _id(account_id, "account"), cursors)
        as_of_text = request.query_params.get("asOf", "").strip()[:40]
        then = await views.balance_as_of(t, account_id, as_of_text) if as_of_text else None
        done = request.query_params.get("done", "")
        return page(
            "account.html",
            session=session,
            v=view,
            as_of=as_of_text,
            then=then,
            notice=actions.DONE.get(done),
            notice_id=_cursor(request, "id"),
            today=t.now().date().isoformat(),
            url=account_url(account_id),
        )

    return await _answer(request, work, signed_in=True)


@router.get("/accounts/{account_id}/credits/{credit_id}")
@accepts("ledger")
async def credit_page(request: Request, account_id: str, credit_id: str) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        credit = await ledger.credit_header(t, _id(credit_id, "credit"))
        if credit["accountId"] != account_id:
            raise Refused(404, f"credit {credit_id} is not a credit of account {account_id}")
        after = _cursor(request, "ledger")
        txns = await reads.credit_ledger(t, credit_id, after)
        return page(
            "credit.html",
            session=session,
            credit=credit,
            txns=txns,
            account_id=account_id,
            url=account_url(account_id),
        )

    return await _answer(request, work, signed_in=True)


@router.get("/accounts/{account_id}/features/{feature_id}")
@accepts("entries", "draws", "entry")
async def feature_page(request: Request, account_id: str, feature_id: str) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        cursors = {n: _cursor(request, n) for n in ("entries", "draws")}
        view = await views.feature_page(
            t,
            _id(account_id, "account"),
            _id(feature_id, "feature"),
            cursors,
            _cursor(request, "entry"),
        )
        return page(
            "feature.html",
            session=session,
            v=view,
            url=account_url(account_id),
            bar_width=views.BAR_WIDTH,
        )

    return await _answer(request, work, signed_in=True)


@router.get("/catalog")
@accepts("features", "schemas", "plans")
async def catalog_page(request: Request) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        features = await ledger.features(t, _cursor(request, "features"), reads.CREDITS_PAGE)
        schemas = await ledger.schemas(t, _cursor(request, "schemas"), reads.CREDITS_PAGE)
        plans = await ledger.plans(t, _cursor(request, "plans"), reads.CREDITS_PAGE)
        return page(
            "catalog.html", session=session, features=features, schemas=schemas, plans=plans
        )

    return await _answer(request, work, signed_in=True)


@router.get("/alerts")
@accepts("endpoint", "after", "incidents", "endpoints", "done")
async def alerts_page(request: Request) -> Response:
    async def work(session: Session | None) -> Response:
        assert session is not None
        t = _tenant(request, session)
        size = reads.CREDITS_PAGE
        endpoint_id = _cursor(request, "endpoint")
        deliveries = (
            await ledger.deliveries(
                t, _id(endpoint_id, "endpoint"), _cursor(request, "after"), size
            )
            if endpoint_id
            else None
        )
        return page(
            "alerts.html",
            session=session,
            incidents=await ledger.incidents(t, _cursor(request, "incidents"), size),
            endpoints=await ledger.endpoints(t, _cursor(request, "endpoints"), size),
            endpoint_id=endpoint_id,
            deliveries=deliveries,
            notice="Delivery queued again." if request.query_params.get("done") else None,
        )

    return await _answer(request, work, signed_in=True)


@router.post("/alerts/retry")
async def retry_delivery(request: Request) -> Response:
    """Send a webhook message again (confirmed first), as `POST …/deliveries/{id}/retry`."""

    async def work(session: Session | None) -> Response:
        signed, form = await guard.guarded_form(request, session)
        t = _tenant(request, signed)
        endpoint_id = _id(form.get("endpointId", ""), "endpoint")
        message_id = _id(form.get("messageId", ""), "message")
        back = f"/console/alerts?{urlencode({'endpoint': endpoint_id})}"
        if form.get("confirm") != "yes":
            plan = actions.Plan(
                title=f"Send message {message_id} to endpoint {endpoint_id} again",
                lines=[
                    ("endpointId", endpoint_id),
                    ("messageId", message_id),
                    ("effect", "delivered again from the first attempt of the schedule"),
                ],
                fields={"endpointId": endpoint_id, "messageId": message_id},
                target=message_id,
                run=lambda: ledger.retry_delivery(t, endpoint_id, message_id),
            )
            return page(
                "confirm.html",
                session=signed,
                plan=plan,
                post_url="/console/alerts/retry",
                back_url=back,
                back_label="Alerts & webhooks",
            )
        await ledger.retry_delivery(t, endpoint_id, message_id)
        detail = {"endpointId": endpoint_id, "messageId": message_id}
        with contextlib.suppress(LedgerError):
            await reads.record_action(t, signed.actor, "retry-delivery", "", message_id, detail)
        return _see_other(back + "&done=retry")

    return await _answer(request, work, signed_in=True)


# --- actions ----------------------------------------------------------------------------------


@router.post("/accounts/{account_id}/actions/{name}")
async def act(request: Request, account_id: str, name: str) -> Response:
    async def work(session: Session | None) -> Response:
        signed, form = await guard.guarded_form(request, session)
        if name not in actions.DONE:
            raise Refused(404, f"no console action {name}")
        t = _tenant(request, signed)
        await ledger.account(t, _id(account_id, "account"))
        grace = request.app.state.correction_grace
        plan = await actions.plan_for(name, t, signed.actor, account_id, form, grace)
        if form.get("confirm") != "yes":
            return page(
                "confirm.html",
                session=signed,
                plan=plan,
                post_url=f"{account_url(account_id)}/actions/{name}",
                back_url=account_url(account_id),
                back_label=account_id,
            )
        result = await plan.run()
        detail = {k: v for k, v in plan.fields.items() if k != "idempotencyKey"}
        created = str(result.get("id", ""))
        if created:
            detail["resultId"] = created
        try:
            await reads.record_action(t, signed.actor, name, account_id, plan.target, detail)
        except LedgerError:
            # The action itself committed: answering "not done" would be wrong; the log says
            # which entry of the action log is missing.
            log.warning(
                "console action %s on %s done but not logged",
                name,
                account_id,
                extra={"org": signed.org_id, "actor": signed.actor, "detail": detail},
            )
        return _see_other(account_url(account_id, done=name, id=created) + "#notice")

    return await _answer(request, work, signed_in=True)


def install(app: FastAPI) -> None:
    app.include_router(router)
