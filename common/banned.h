/* common/banned.h: include last; poisons unsafe libc calls (git's banned.h idea). */
#ifndef IMGBUILD_COMMON_BANNED_H
#define IMGBUILD_COMMON_BANNED_H

#undef strcpy
#undef strcat
#undef strncpy
#undef sprintf
#undef vsprintf
#undef strtok
#undef gets
#undef mktemp
#pragma GCC poison strcpy strcat strncpy sprintf vsprintf strtok gets mktemp

#endif
