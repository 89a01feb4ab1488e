"""The web application under a real uvicorn server: pages, errors, headers, /healthz."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from syndicate.web.app import Feature
from syndicate.web.context import WebContext
from tests.conftest import BASE_CONFIG, StartWeb, free_port

SECURITY = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def assert_secure(response: httpx.Response) -> None:
    """Every response carries the security headers, and a CSP without inline script."""
    for name, value in SECURITY.items():
        assert response.headers.get(name) == value, (response.url, name)
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def korean_page(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert '<html lang="ko">' in response.text
    assert "Traceback" not in response.text
    return response.text


def test_index_page_is_korean_with_stylesheet(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    site = web_server(write_config(store=sqlite_url))
    response = httpx.get(site.url)
    assert response.status_code == 200
    assert_secure(response)
    text = korean_page(response)
    assert "아침 브리핑" in text
    assert 'href="/subscribe/morning"' in text
    assert '<meta name="viewport"' in text
    assert "<script" not in text and "style=" not in text
    css_href = text.split('rel="stylesheet" href="')[1].split('"')[0]
    css = httpx.get(site.url.rstrip("/") + css_href)
    assert css.status_code == 200
    assert css.headers["content-type"] == "text/css; charset=utf-8"
    assert_secure(css)
    etag = css.headers["etag"]
    again = httpx.get(site.url.rstrip("/") + css_href, headers={"If-None-Match": etag})
    assert again.status_code == 304


def test_unknown_path_is_a_korean_404(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    site = web_server(write_config(store=sqlite_url))
    response = httpx.get(site.at("no/such/page"))
    assert response.status_code == 404
    assert_secure(response)
    assert "페이지를 찾을 수 없습니다" in korean_page(response)


def test_wrong_method_is_405_with_allow(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    site = web_server(write_config(store=sqlite_url))
    response = httpx.request("DELETE", site.url)
    assert response.status_code == 405
    assert set(response.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD"}
    assert_secure(response)
    assert "허용되지 않는 요청 방식" in korean_page(response)


def test_head_of_a_page_has_no_body(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    site = web_server(write_config(store=sqlite_url))
    response = httpx.head(site.url)
    assert response.status_code == 200
    assert response.content == b""
    assert_secure(response)


def _failing_feature() -> Feature:
    class Failing:
        @staticmethod
        def routes(ctx: WebContext) -> list[BaseRoute]:
            def boom(request: Request) -> Response:
                raise RuntimeError("secret detail /etc/passwd")

            async def query(request: Request) -> Response:
                from syndicate.web.inputs import query_int

                page = query_int(request, "page", default=1, minimum=1, maximum=99)
                return Response(str(page))

            return [Route("/boom", boom), Route("/query", query)]

    return Failing()


def test_a_crash_is_a_500_page_without_traceback(
    write_config: Callable[..., Path],
    sqlite_url: str,
    web_server: StartWeb,
    caplog: pytest.LogCaptureFixture,
) -> None:
    site = web_server(write_config(store=sqlite_url), features=(_failing_feature(),))
    response = httpx.get(site.at("boom"))
    assert response.status_code == 500
    assert_secure(response)
    text = korean_page(response)
    assert "일시적인 오류" in text
    assert "secret detail" not in text and "RuntimeError" not in text
    logged = [r.getMessage() for r in caplog.records if r.name == "syndicate.web.middleware"]
    assert logged == ["GET /boom: RuntimeError: secret detail /etc/passwd"]


@pytest.mark.parametrize("query", ["page=abc", "page=0", "page=100", "page=1&page=2", "page=%00"])
def test_bad_query_values_are_400(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb, query: str
) -> None:
    site = web_server(write_config(store=sqlite_url), features=(_failing_feature(),))
    response = httpx.get(site.at(f"query?{query}"))
    assert response.status_code == 400
    assert_secure(response)
    assert "page 값" in korean_page(response)
    assert httpx.get(site.at("query?page=7")).text == "7"


def test_routes_live_under_the_path_of_public_base_url(
    write_config: Callable[..., Path], sqlite_url: str, web_server: StartWeb
) -> None:
    config = write_config(store=sqlite_url, public_base_url="https://news.example.kr/letters/")
    site = web_server(config)
    assert site.url.endswith("/letters/")
    response = httpx.get(site.url)
    assert response.status_code == 200
    assert 'href="/letters/subscribe/morning"' in response.text
    assert 'href="/letters/static/site.css?v=' in response.text
    assert httpx.get(site.at("healthz")).text == "ok"
    root = site.url.removesuffix("letters/")
    outside = httpx.get(root + "healthz")
    assert outside.status_code == 404
    assert_secure(outside)


def test_healthz_is_ok_when_the_store_answers(
    write_config: Callable[..., Path], store_url: str, web_server: StartWeb
) -> None:
    site = web_server(write_config(store=store_url))
    response = httpx.get(site.at("healthz"))
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["cache-control"] == "no-store"
    assert_secure(response)


def test_healthz_is_503_when_postgresql_is_unreachable(
    write_config: Callable[..., Path], web_server: StartWeb
) -> None:
    url = f"postgresql+psycopg://news:hunter2@127.0.0.1:{free_port()}/news"
    site = web_server(write_config(store=url), upgrade=False)
    response = httpx.get(site.at("healthz"))
    assert response.status_code == 503
    assert response.text.startswith("store unavailable: database postgresql+psycopg://news:***@")
    assert "hunter2" not in response.text
    assert_secure(response)


def test_healthz_is_503_when_the_sqlite_file_cannot_be_opened(
    write_config: Callable[..., Path], tmp_path: Path, web_server: StartWeb
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    site = web_server(write_config(store=f"sqlite:///{blocker}/store.db"), upgrade=False)
    response = httpx.get(site.at("healthz"))
    assert response.status_code == 503
    assert "store unavailable" in response.text
    assert not (tmp_path / "store.db").exists()


def test_a_store_error_in_a_page_is_a_503_page(
    write_config: Callable[..., Path], tmp_path: Path, web_server: StartWeb
) -> None:
    class NeedsStore:
        @staticmethod
        def routes(ctx: WebContext) -> list[BaseRoute]:
            def page(request: Request) -> Response:
                ctx.store.ping()
                return Response("unreachable")

            return [Route("/needs-store", page)]

    url = f"postgresql+psycopg://news@127.0.0.1:{free_port()}/news"
    site = web_server(write_config(store=url), upgrade=False, features=(NeedsStore(),))
    response = httpx.get(site.at("needs-store"))
    assert response.status_code == 503
    assert_secure(response)
    assert "저장소에 연결할 수 없습니다" in korean_page(response)


def test_base_config_has_no_web_section() -> None:
    assert "web" not in BASE_CONFIG  # the defaults of the web section are what these tests see
