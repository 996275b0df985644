"""What several pages share: the app frame, sign-in, untrusted text, widgets, pickers and links."""
