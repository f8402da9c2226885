"""The MCP server for coding agents: tools rag_search, rag_answer and rag_feedback, and resources.

`tools.py` does the work over the gateway's clients, `server.py` puts it on the `mcp` SDK,
`transports.py` serves it (stdio, HTTP on its own port, mounted in the gateway at /mcp);
`extractive.py` and `llm.py` write rag_answer's answers, `results.py` is what the tools return.
"""
