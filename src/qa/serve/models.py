"""API models: the pydantic request and response types of the HTTP API, as /docs shows them."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from .. import __version__
from ..errors import QAError
from ..ingest.passages import Passage
from ..search.rerank import RERANKERS, check_reranker
from ..search.retrieval import MAX_K, MAX_QUESTION_CHARS, MODES, Hit, check_mode, check_question

MAX_BODY_BYTES = 64 * 1024
EXAMPLE_QUESTION = "Which country is the protecting power for the US in North Korea?"
# What `check_question` takes, as JSON Schema (validated by it, not by pydantic, for its messages): not
# blank means one character that is not white space to Python's str.strip (ECMA's \s lacks \x1c-\x1f
# and \x85). The schema cannot say "no lone surrogate"; JSON text with one is refused as not UTF-8.
QUESTION_SCHEMA = {"minLength": 1, "maxLength": MAX_QUESTION_CHARS, "pattern": "[^\\s\\x1c-\\x1f\\x85]"}




class AskRequest(BaseModel):
    """A question and how many passages to return."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": EXAMPLE_QUESTION, "k": 3}]},
    )

    question: StrictStr = Field(
        description=f"The question, in plain English (1-{MAX_QUESTION_CHARS} characters, not blank).",
        json_schema_extra=QUESTION_SCHEMA,
    )
    k: StrictInt = Field(5, ge=1, le=MAX_K, description=f"How many passages to return (1-{MAX_K}).")
    mode: Optional[StrictStr] = Field(
        None,
        description=f"Retrieval mode: one of {', '.join(MODES)} [default: the library's].",
        json_schema_extra={"enum": [*MODES, None]},
    )

    rerank: Optional[StrictStr] = Field(
        None,
        description=f"Second stage over the first stage's top 20: one of {', '.join(RERANKERS)} (cross: the "
                    "server's --reranker cross-encoder) [default: none].",
        json_schema_extra={"enum": [*RERANKERS, None]},
    )

    @field_validator("k", mode="before")
    @classmethod
    def _whole_k(cls, value: Any) -> Any:
        # JSON Schema counts 52.0 as an integer, so the schema's "integer" takes it; 52.5 stays a float,
        # which StrictInt refuses with the k message, as it refuses "52" and true
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("question")
    @classmethod
    def _question(cls, value: str) -> str:
        return _check(check_question, value)  # a Question: checked here, not again (retrieval.Question)

    @field_validator("mode")
    @classmethod
    def _mode(cls, value: str | None) -> str | None:
        if value is not None:
            _check(check_mode, value)
        return value

    @field_validator("rerank")
    @classmethod
    def _rerank(cls, value: str | None) -> str | None:
        if value is not None:
            _check(check_reranker, value)
        return value


class AskResponse(BaseModel):
    """What `qa ask --json` prints, plus `took_ms`; passages best first."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "question": EXAMPLE_QUESTION,
                    "mode": "hybrid",
                    "passages": [
                        {
                            "id": "5d2f0c1e9a7b3c41",
                            "doc": "north-korea-diplomacy.txt",
                            "section": "Who Led The North Korea Diplomacy Efforts?",
                            "start": 104,
                            "end": 763,
                            "score": 0.9312,
                            "text": "North Korea's foreign relations have been marked by conflict ... Sweden serves as "
                                    "the protecting power for the US in North Korea. ...",
                        }
                    ],
                    "took_ms": 6.4,
                }
            ]
        },
    )

    question: str
    mode: Optional[str] = None
    answerable: Optional[bool] = Field(None, description="False when the corpus does not seem to answer it.")
    passages: list[Hit]  # the library's own result type: the schema cannot drift from it
    took_ms: float = Field(description="Retrieval time in milliseconds, per question of its batch "
                                       "(server side; excludes HTTP and waiting for the model).")


@pydantic_dataclass(frozen=True, config=ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "5d2f0c1e9a7b3c41",
                    "doc": "north-korea-diplomacy.txt",
                    "title": "Who Led The North Korea Diplomacy Efforts?",
                    "section": "Who Led The North Korea Diplomacy Efforts?",
                    "ordinal": 1,
                    "start": 104,
                    "end": 763,
                    "text": "North Korea's foreign relations have been marked by conflict ...",
                    "page": None,
                    "citation": "north-korea-diplomacy.txt › Who Led The North Korea Diplomacy Efforts? "
                                "(chars 104–763)",
                    "previous": "0e4c1b2a3d5f6789",
                    "next": "9a8b7c6d5e4f3210",
                }
            ]
        }
))
class PassageDetail(Passage):
    """One passage (the index's own record) with its citation and its neighbours in the same document."""

    citation: str = Field(description="doc › section (p. N, chars start–end), as `qa ask` prints it "
                                      "(the page only for a paged document).")
    previous: Optional[str] = Field(description="Id of the passage before this one in the same document.")
    next: Optional[str] = Field(description="Id of the passage after this one in the same document.")


class Health(BaseModel):
    """Whether the server can answer, and what it answers from."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "store": "local", "reachable": True, "passage_count": 32, "model": "all-MiniLM-L6-v2",
                 "built_at": "2026-11-27T09:14:18+00:00", "version": __version__, "message": None}
            ]
        }
    )

    status: str = Field(description='"ok", or "unavailable" (HTTP 503) when no index could be loaded.')
    store: Optional[str] = Field(description='Where the index is: "local" (an index folder) or "qdrant".')
    reachable: Optional[bool] = Field(None, description="Whether the store answered: false while a Qdrant "
                                      "server cannot be reached (null: not known, e.g. no index folder).")
    passage_count: Optional[int]
    model: Optional[str]
    built_at: Optional[str] = Field(description="When the index was built (ISO 8601, UTC).")
    version: str
    message: Optional[str] = Field(None, description="Why the server is unavailable, and how to fix it.")


class ErrorDetail(BaseModel):
    status: int
    message: str


class ErrorBody(BaseModel):
    """The one shape of every error response."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"error": {"status": 422, "message": "k must be a whole number from 1 "
                                                                             "to 100, not 0"}}]}
    )

    error: ErrorDetail


# A JSON body without a Content-Type header is still JSON (FastAPI >= 0.12x refuses it unless told;
# older ones accept it and have no such option).
LENIENT_CONTENT_TYPE = (
    {"strict_content_type": False} if "strict_content_type" in inspect.signature(FastAPI.__init__).parameters else {}
)

ERRORS = {
    413: {"model": ErrorBody, "description": f"Request body over {MAX_BODY_BYTES // 1024} KiB"},
    422: {"model": ErrorBody, "description": "Bad input: the message says what to change"},
    503: {"model": ErrorBody, "description": "No index is loaded: the message says how to build one"},
}
# /ask also answers 409 to rerank=cross on a server started without a cross-encoder (qa serve --reranker)
ASK_ERRORS = {**ERRORS, 409: {"model": ErrorBody, "description": "rerank=cross on a server with no cross-encoder"}}


def _check(check: Callable, value: Any) -> Any:
    """Run a library check and return what it returns; its QAError becomes a ValueError carrying the same message."""
    try:
        return check(value)
    except QAError as error:
        raise ValueError(error.message) from None
