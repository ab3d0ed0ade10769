# 0 is not "unlimited": leave the field out for the host's cap.
# expect: user "bob": maxContainers 0 is out of range: want 1 to 100000
# go: invalid
{
  bob = {
    uid = 1002;
    maxContainers = 0;
  };
}
