"""Helpers for the Playwright tests that drive Debian's Chromium through the demo helpdesk."""
