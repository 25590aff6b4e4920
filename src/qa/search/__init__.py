"""Search: questions in, cited passages out (retrieval, scoring, answerability)."""
