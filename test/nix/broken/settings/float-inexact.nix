# A float that cannot be written exactly is refused rather than rounded.
# expect: devbox-quadlet toTOML: container.cpus: the float 0.333333 has no exact decimal form
{
  container.cpus = 1.0 / 3;
}
