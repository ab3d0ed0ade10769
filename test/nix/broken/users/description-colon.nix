# The description becomes the GECOS field of /etc/passwd.
# expect: user "alice": description: must not contain ':' or a line break
{
  alice = {
    uid = 1001;
    description = "Alice:0:0";
  };
}
