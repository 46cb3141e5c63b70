"""How a multi-agent pipeline is usually hand-wired in LangGraph (the comparison baseline).

A shared transcript lives in the graph state; one node per agent, in a fixed order; every
agent is shown the facts and the whole transcript so far, whatever it depends on. The
examples build their baseline with ``transcript_graph``; ``orch eval compound`` runs it
against the runtime's fine and compound modes on the same model.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph

Chat = Callable[[str, str, int], Any]
"""(system prompt, user prompt, max tokens) -> a reply with ``.text``."""


class TranscriptState(TypedDict):
    query: str
    facts: dict[str, str]
    transcript: Annotated[list[str], operator.add]


def transcript_graph(
    agents: Sequence[tuple[str, str]],
    gather: Callable[[str], dict[str, str]],
    chat: Chat,
    *,
    max_tokens: int = 300,
) -> Any:
    """A compiled StateGraph: ``gather`` the facts (no LLM), then one call per agent."""

    def facts(state: TranscriptState) -> dict[str, Any]:
        return {"facts": gather(state["query"])}

    def agent(name: str, instructions: str) -> Callable[[TranscriptState], dict[str, Any]]:
        def node(state: TranscriptState) -> dict[str, Any]:
            user = "\n".join(
                [
                    f"Stage: {name}",
                    "Facts:",
                    *(f"- {k}: {v}" for k, v in state["facts"].items()),
                    "Team transcript so far:",
                    *state["transcript"],
                    "Request:",
                    state["query"],
                ]
            )
            reply = chat(instructions, user, max_tokens)
            text = re.sub(r"^\s*NEXT:.*$", "", reply.text, flags=re.MULTILINE).strip()
            return {"transcript": [f"{name}: {' '.join(text.split())}"]}

        return node

    graph = StateGraph(TranscriptState)
    graph.add_node("gather", facts)
    graph.add_edge(START, "gather")
    previous = "gather"
    for name, instructions in agents:
        graph.add_node(name, agent(name, instructions))
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile()


def sections(final: dict[str, Any]) -> dict[str, str]:
    """Each agent's answer from the baseline's final state."""
    return dict(line.split(": ", 1) for line in final["transcript"])
