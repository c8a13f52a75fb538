"""The read side: pages and endpoints that compose several apps for people (dashboard,
analytics, reports, the composed admin pages). Top layer below the composition root: it may
read every app, and no app reads it."""
