"""React to Gerrit: ``events`` checks and normalises an event, ``stream`` reads
``gerrit stream-events`` over SSH, and ``pipeline`` runs the candidate and merge
legs (package, publish, deploy, vote, promote)."""
