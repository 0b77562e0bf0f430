"""The Wawp API: action catalog, param rules, wire requests, client."""
