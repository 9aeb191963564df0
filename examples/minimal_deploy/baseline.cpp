// An empty program with the minimal deployment's flags: what the C/C++ runtime alone costs.
#include <cstdio>
int main() { return std::getchar() == EOF ? 0 : 1; }
