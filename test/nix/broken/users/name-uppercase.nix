# useradd refuses upper case by default, and the Go config would too.
# expect: user "Bob": invalid login name: want a lowercase letter
# go: invalid
{
  Bob = {
    uid = 1002;
  };
}
