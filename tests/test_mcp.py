"""`qa mcp` end to end: the official MCP SDK's own client starts it over stdio and calls each tool (issue 32)."""

from __future__ import annotations

import os
import sys

import anyio
import httpx

QUESTION = "Which country is the protecting power for the US in North Korea?"


def call_tools(index_dir, calls: list[tuple[str, dict]]) -> tuple[list[str], list]:
    """The tools `qa mcp --index-dir index_dir` lists, and the result of each call, through the SDK's client."""
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "qa.cli", "mcp", "--index-dir", str(index_dir)],
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"})

    async def session():
        async with Client(params, read_timeout_seconds=120) as client:
            tools = sorted(tool.name for tool in (await client.list_tools()).tools)
            return tools, [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(session)


def test_mcp_tools_answer_with_the_citations_of_ask(seed_index_dir, qa_server):
    tools, (asked, listed, span, bad, missing) = call_tools(seed_index_dir, [
        ("ask", {"question": QUESTION, "k": 3, "mode": "hybrid"}),
        ("list_documents", {}),
        ("read_text", {"doc": "north-korea-diplomacy.txt", "start": 10, "end": 60}),
        ("ask", {"question": " ", "k": 3}),
        ("read_text", {"doc": "nothing.txt"}),
    ])
    assert tools == ["ask", "list_documents", "read_text"]
    over_http = httpx.post(f"{qa_server}/ask", json={"question": QUESTION, "k": 3, "mode": "hybrid"}, timeout=60).json()
    over_http.pop("took_ms")
    assert not asked.is_error and asked.structured_content == over_http  # the same passages and citations
    assert "Sweden" in asked.structured_content["passages"][0]["text"]
    assert listed.structured_content == {"documents": [
        {"doc": "north-korea-diplomacy.txt", "passages": 32, "kind": "text", "pages": None}]}
    text = httpx.get(f"{qa_server}/documents/north-korea-diplomacy.txt/text", timeout=60).text
    assert span.structured_content == {"doc": "north-korea-diplomacy.txt", "start": 10, "end": 60, "text": text[10:60]}
    assert bad.is_error and "the question is empty" in bad.content[0].text
    assert missing.is_error and "no document named 'nothing.txt' in this index" in missing.content[0].text
