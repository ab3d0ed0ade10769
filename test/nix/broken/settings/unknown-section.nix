# A misspelt section would otherwise reach the Go validator only at activation.
# expect: devbox-quadlet settings: unknown section "reapr": allowed sections are
# go: invalid
{
  reapr.idle_stop = "7d";
}
