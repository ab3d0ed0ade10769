# A global cap of 0 would refuse every container.
# expect: devbox-quadlet settings: caps.max_global: 0 is below one
# go: invalid
{
  caps.max_global = 0;
}
